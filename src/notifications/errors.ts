// The two ways a delivery fails. The reason is kept in the outbox row (app_private, never shown
// to a clinic): it says what went wrong with the sending, never what the message said.

/** The transport could not send this time (server down, refused, timed out): worth a retry. */
export class DeliveryError extends Error {
  readonly reason: string;
  constructor(reason: string, options?: { cause?: unknown }) {
    super(reason, options);
    this.name = 'DeliveryError';
    this.reason = reason;
  }
}

/** The message can never be sent as it stands (unknown kind, payload or appointment gone): no retry. */
export class UndeliverableError extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(reason);
    this.name = 'UndeliverableError';
    this.reason = reason;
  }
}
