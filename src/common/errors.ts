// Errors are classes whose message is what the user should read. Each layer throws its own
// subclass so that callers can tell a guest's fault from a host problem from bad user input.

/** Base class of every error hvmon raises on purpose. */
export class HvmonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The user asked for something malformed or impossible (CLI flag, monitor argument). */
export class UsageError extends HvmonError {}

/** Two regions claim the same addresses on a bus. */
export class BusOverlapError extends HvmonError {}

/** A device model threw while handling a guest access. The VM stops; the host stays up. */
export class DeviceError extends HvmonError {
  constructor(
    readonly deviceId: string,
    detail: string,
  ) {
    super(`device ${deviceId} failed: ${detail}`);
  }
}

/** A backend (disk image, character device, network socket) could not do its job. */
export class BackendError extends HvmonError {}

/** Saved state does not fit the device it is restored into. */
export class StateError extends HvmonError {}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
