import { describe, expect, it } from "vitest";
import { Origins } from "../../../../lib/dev/sim/server/origins.js";

describe("Origins", () => {
  it("builds links from the request's Host, and falls back to the first host name without a usable one", () => {
    const origins = new Origins(["graph.microsoft.com", "outlook.office365.com"], 443);
    expect(origins.default).toBe("https://graph.microsoft.com");
    expect(origins.ofRequest("graph.microsoft.com")).toBe("https://graph.microsoft.com");
    expect(origins.ofRequest("LocalHost:8443")).toBe("https://localhost:8443");
    expect(origins.ofRequest("[::1]:8443")).toBe("https://[::1]:8443");
    expect(origins.ofRequest(undefined)).toBe("https://graph.microsoft.com");
    expect(origins.ofRequest("evil.test/path?x")).toBe("https://graph.microsoft.com");
    expect(new Origins(["localhost"], 8443).default).toBe("https://localhost:8443");
  });

  it("points pre-authenticated URLs to the service's real host when served, else to the other loopback name", () => {
    const real = new Origins(
      ["graph.microsoft.com", "outlook.office.com", "outlook.office365.com", "reports.office.com"],
      443,
    );
    expect(real.preauthenticated("upload", "https://graph.microsoft.com")).toBe("https://outlook.office.com");
    expect(real.preauthenticated("import", "https://graph.microsoft.com")).toBe(
      "https://outlook.office365.com",
    );
    expect(real.preauthenticated("report", "https://graph.microsoft.com")).toBe("https://reports.office.com");
    const local = new Origins(["localhost"], 8443);
    expect(local.preauthenticated("import", "https://localhost:8443")).toBe("https://127.0.0.1:8443");
    expect(local.preauthenticated("upload", "https://127.0.0.1:8443")).toBe("https://localhost:8443");
    // Only one outlook host served: both services use it.
    const one = new Origins(["graph.microsoft.com", "outlook.office365.com"], 443);
    expect(one.preauthenticated("upload", "https://graph.microsoft.com")).toBe(
      "https://outlook.office365.com",
    );
  });
});
