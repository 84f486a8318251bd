import { describe, expect, it } from "vitest";
import { updateOutcomeText } from "../src/settingsmodel";

describe("updateOutcomeText", () => {
  it("names each outcome of a manual update check", () => {
    expect(updateOutcomeText({ outcome: "disabled" })).toBe("Update checks are off.");
    expect(updateOutcomeText({ outcome: "up_to_date" })).toBe("Cordon is up to date.");
    expect(updateOutcomeText({ outcome: "declined", version: "0.2.0" })).toContain("0.2.0 is available");
    expect(updateOutcomeText({ outcome: "installed", version: "0.2.0" })).toContain("restarts");
  });
});
