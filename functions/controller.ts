export const handler = async () => {
  throw new Error("not wired yet");
};
