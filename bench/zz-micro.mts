const N = 1_000_000;
function mk(i: number) {
  const f = () => i + 1;
  return f;
}
function mk2(i: number) {
  return (() => i + 1)();
}
let t = process.cpuUsage();
let n = 0;
for (let i = 0; i < N; i++) n += mk(i)();
let d = process.cpuUsage(t);
console.log("named closure ns", (((d.user + d.system) * 1000) / N).toFixed(0));
t = process.cpuUsage();
for (let i = 0; i < N; i++) n += mk2(i);
d = process.cpuUsage(t);
console.log("anon closure ns", (((d.user + d.system) * 1000) / N).toFixed(0), n > 0);
