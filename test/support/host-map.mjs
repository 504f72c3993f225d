/**
 * Preload (`node --import ./test/support/host-map.mjs`) that stands in for a hosts entry plus a
 * port forward, for tests that run an unmodified client against the simulator: connections to
 * the names in MAILSTREAM_HOST_MAP on port 443 go to 127.0.0.1 on the simulator's port instead.
 *
 * MAILSTREAM_HOST_MAP="graph.microsoft.com,login.microsoftonline.com=8443"
 *
 * It rewrites only where the TCP connection goes (net.Socket#connect, which both node:https and
 * fetch use): TLS still sends the original name (SNI) and checks the server certificate against
 * it, exactly as with a hosts entry `127.0.0.1 graph.microsoft.com` and a simulator on port 443.
 */
import net from "node:net";

const spec = process.env.MAILSTREAM_HOST_MAP ?? "";
const [names = "", port = ""] = spec.split("=");
const mapped = new Set(
  names
    .split(",")
    .map((n) => n.trim().toLowerCase())
    .filter(Boolean),
);
const target = Number(port);
if (mapped.size === 0 || !Number.isInteger(target) || target <= 0) {
  throw new Error(`host-map: expected MAILSTREAM_HOST_MAP="name,name=port", found "${spec}"`);
}

function isMapped(options) {
  return (
    options !== null &&
    typeof options === "object" &&
    typeof options.host === "string" &&
    mapped.has(options.host.toLowerCase()) &&
    Number(options.port ?? 443) === 443
  );
}

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function connectMapped(...args) {
  // net.connect passes its normalized [options, callback] array; tls.connect passes options.
  const holder = Array.isArray(args[0]) ? args[0] : args;
  if (isMapped(holder[0])) holder[0] = { ...holder[0], host: "127.0.0.1", port: target };
  return connect.apply(this, args);
};
