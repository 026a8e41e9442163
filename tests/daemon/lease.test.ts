import { describe, expect, it } from "vitest";
import { Lease } from "../../src/daemon/lease.js";

/** A lease on a hand-driven clock; `beat` decides what a beat finds. */
function leaseWith(deadAfterMs: number) {
  let now = 0;
  let onBeat: (lease: Lease) => void = () => undefined;
  const lease: Lease = new Lease(deadAfterMs, async () => onBeat(lease), () => now);
  return {
    lease,
    advance: (ms: number) => (now += ms),
    now: () => now,
    beats: (fn: (lease: Lease) => void) => (onBeat = fn),
  };
}

describe("lease", () => {
  it("is held for half of dead-after after a confirmed beat, measured from when the beat was sent", () => {
    const { lease, advance, now } = leaseWith(10_000);
    expect(lease.fresh()).toBe(false);
    lease.confirm(now());
    advance(4_999);
    expect(lease.fresh()).toBe(true);
    advance(1);
    expect(lease.fresh()).toBe(false);
  });

  it("counts steady beats from the first success after a failure", () => {
    const { lease, advance, now } = leaseWith(10_000);
    lease.confirm(now());
    advance(3_000);
    lease.confirm(now());
    expect(lease.steadyForMs()).toBe(3_000);
    lease.fail();
    expect(lease.steadyForMs()).toBe(0);
    advance(1_000);
    lease.confirm(now());
    advance(500);
    expect(lease.steadyForMs()).toBe(500);
  });

  it("confirms a stale lease by beating, and never again confirms an epoch that was reaped", async () => {
    const { lease, advance, now, beats } = leaseWith(10_000);
    lease.confirm(now());
    const epoch = lease.epoch;
    advance(6_000);
    beats((l) => l.confirm(now()));
    expect(await lease.confirmed(epoch)).toBe(true);

    advance(6_000);
    beats((l) => {
      l.lose();
      l.confirm(now()); // the new identity registers
    });
    expect(await lease.confirmed(epoch)).toBe(false);
    expect(lease.fresh(epoch)).toBe(false);
    expect(await lease.confirmed(lease.epoch)).toBe(true);
  });

  it("stops waiting for a beat the moment its epoch is lost (the beat that found out goes on to rejoin)", async () => {
    let beats = 0;
    // A beat that finds the daemon reaped and then takes its time rejoining.
    const lease: Lease = new Lease(10_000, () => {
      beats++;
      lease.lose();
      return new Promise(() => undefined);
    }, () => 60_000);
    expect(await lease.confirmed(lease.epoch)).toBe(false);
    expect(beats).toBe(1);
  });

  it("stops waiting for a beat once the daemon has closed it", async () => {
    const { lease } = leaseWith(10_000);
    setTimeout(() => lease.close(), 50);
    expect(await lease.confirmed(lease.epoch)).toBe(false);
  });

  it("gives up waiting when the signal aborts", async () => {
    const { lease } = leaseWith(10_000);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    expect(await lease.confirmed(lease.epoch, controller.signal)).toBe(false);
  });
});
