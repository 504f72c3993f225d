import { createServer } from "node:net";

/**
 * Asks the OS for a TCP port that is free right now on 127.0.0.1. Another process may take it
 * before the caller binds it, so callers that spawn a server on it retry on a bind failure.
 */
export function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() =>
        port > 0 ? resolve(port) : reject(new Error("expected a TCP port from the OS, found none")),
      );
    });
  });
}
