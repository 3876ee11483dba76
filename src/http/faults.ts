import { INJECTED_HEADER, type AdmissionInput } from '../faults/admission.js';
import { faultToken, isErrorFault, type ErrorFault, type FaultSpec } from '../faults/catalogue.js';
import { BAD_GATEWAY_HTML, faultError } from '../faults/render.js';
import type { Timed } from '../sim/scheduler.js';
import type { Exchange } from './exchange.js';


/**
 * Where admission's decisions meet the wire: the error faults and the connection faults are
 * carried out here, before anything is planned; the faults that act on an answer are set on the
 * exchange for the delivery (src/http/delivery.ts) and for writeFaulted below. Fault durations
 * (`ms`) are wall-clock, not multiplied by timeScale: at time scale 0 a delay must still show.
 */

/** `bad_gateway`'s page, and the type `wrong_content_type` answers under. */
export const HTML_TYPE = 'text/html; charset=utf-8';
/** Status 0 in the metrics and the access log: the server sent no response (reset, close). */
export const NO_RESPONSE = 0;

/** Runs `work` for an exchange at a wall-clock deadline on the shared scheduler; cancelled when the client leaves. */
export class Later implements Timed {
  due = 0;
  slot = 0;
  position = -1;
  constructor(
    private readonly ex: Exchange,
    private readonly work: () => void,
  ) {}
  start(due: number): void {
    this.ex.delivery = this;
    this.ex.services.scheduler.add(this, due);
  }
  fire(): void {
    this.ex.delivery = null;
    this.ex.later(this.work);
  }
  cancel(): void {
    this.ex.services.scheduler.remove(this);
  }
  fail(err: unknown): void {
    this.ex.fail(err);
  }
}

/**
 * Carries out an admission decision. `answer` goes on to validate, plan and deliver the request;
 * it runs at once, after a `delay`, or never (an error, reset, hang).
 */
export function injectFault(ex: Exchange, spec: FaultSpec, source: string, input: AdmissionInput, answer: () => void): void {
  const fault = normalise(spec, input.stream);
  const { services } = ex;
  ex.injected = spec.type;
  services.metrics.faultInjected(spec.type, source, input.modelId, input.route);
  journal(ex, source, spec.type, input);
  if (services.announceFaults) ex.headers.push([INJECTED_HEADER, `${source}/${spec.type}`]);
  if (isErrorFault(fault.type)) return replyFaultError(ex, fault.type, fault, input);
  switch (fault.type) {
    case 'reset':
      return closeWithoutResponse(ex);
    case 'hang':
      if (fault.ms !== undefined) new Later(ex, () => closeWithoutResponse(ex)).start(ex.startedAt + fault.ms);
      else ex.delivery = { cancel() {} }; // only the client's leaving (or the drain deadline) ends it
      return;
    case 'delay':
      return new Later(ex, answer).start(ex.startedAt + fault.ms!);
    default:
      ex.fault = fault;
      return answer();
  }
}

/** Records a decision (a fault's type, or `reply`) in this worker's journal. */
export function journal(ex: Exchange, source: string, what: string, input: AdmissionInput): void {
  ex.services.admission.journal.record({ time: Date.now(), requestId: ex.requestId, source, fault: what, route: input.route, model: input.model });
}

/** A stream fault on a non-stream request becomes the transport fault that means the same (README "Faults"). */
function normalise(fault: FaultSpec, stream: boolean): FaultSpec {
  if (stream) return fault.type === 'invalid_json' ? { ...fault, type: 'malformed_chunk', after: 0 } : fault;
  switch (fault.type) {
    case 'error_event':
      return { ...fault, type: fault.error ?? 'overloaded' };
    case 'no_terminator':
      return { ...fault, type: 'cut' };
    case 'malformed_chunk':
      return { ...fault, type: 'invalid_json' };
    default:
      return fault;
  }
}

function replyFaultError(ex: Exchange, type: ErrorFault, fault: FaultSpec, input: AdmissionInput): void {
  const { err, headers } = faultError(type, fault, ex.dialect.name, input.model);
  ex.headers.push(...headers);
  if (type !== 'bad_gateway') return ex.replyError(err);
  ex.writeResponse(502, HTML_TYPE, BAD_GATEWAY_HTML);
  ex.finish(502);
}

/** Ends the exchange with the connection closed and nothing sent. */
export function closeWithoutResponse(ex: Exchange): void {
  ex.finish(NO_RESPONSE);
  ex.res.close();
}

/** The in-band error an `error_event` fault sends, as its dialect frames it. */
export function errorEventFrame(ex: Exchange, fault: FaultSpec, model: string): string {
  const { err } = faultError(fault.error ?? 'overloaded', fault, ex.dialect.name, model);
  return ex.dialect.streamErrorFrame(err, ex.requestId);
}

/** A complete answer (`status` < 400) under a fault that acts on the body: mangled, cut, throttled or withheld. */
export function writeFaulted(ex: Exchange, status: number, body: string): void {
  const fault = ex.fault!;
  ex.fault = null;
  switch (fault.type) {
    case 'close':
      return closeWithoutResponse(ex);
    case 'empty_body':
      ex.writeResponse(status, 'application/json', '');
      return ex.finish(status);
    case 'invalid_json':
      ex.writeResponse(status, 'application/json', body.slice(0, Math.floor(body.length / 2)));
      return ex.finish(status);
    case 'wrong_content_type':
      ex.writeResponse(status, HTML_TYPE, body);
      return ex.finish(status);
    case 'cut': {
      // content-length says the whole body; half of it comes, then the connection closes.
      const bytes = Buffer.from(body);
      ex.writeHead(status, 'application/json');
      ex.res.tryEnd(bytes.subarray(0, bytes.length >> 1), bytes.length);
      return closeAfterWriting(ex, status);
    }
    case 'throttle':
      ex.writeHead(status, 'application/json');
      return new ThrottledBody(ex, Buffer.from(body), fault.bytesPerSecond!, status).start();
    default:
      // stall and slow acted on the reply's deadline already.
      ex.writeResponse(status, 'application/json', body);
      return ex.finish(status);
  }
}

/**
 * A non-stream reply's wait under the stream faults that act on time: `slow` stretches the part
 * of the wait after its token (`tokens` places it; 0 for a JSON route: all of it), `stall` adds
 * its `ms`. Any other fault (or none) leaves the wait as it is.
 */
export function faultedWait(fault: FaultSpec | null, waitMs: number, tokens: number): number {
  if (fault?.type === 'stall') return waitMs + fault.ms!;
  if (fault?.type !== 'slow') return waitMs;
  const from = tokens === 0 ? 0 : faultToken(fault, tokens) / tokens;
  return waitMs * (from + (1 - from) * fault.factor!);
}

/**
 * After a partial body: the status was sent, so that is what the exchange counts. The close waits
 * for the current cork to be sent (closing inside it would discard the bytes written).
 */
export function closeAfterWriting(ex: Exchange, status: number): void {
  ex.finish(status);
  setImmediate(() => {
    if (!ex.aborted) ex.res.close();
  });
}

/** How often a throttled body sends its next slice. */
const THROTTLE_TICK_MS = 50;

/** Sends `bytes` (status and headers already written) at `bytesPerSecond`, a slice per tick. */
export class ThrottledBody implements Timed {
  due = 0;
  slot = 0;
  position = -1;
  private sent = 0;
  private readonly slice: number;

  constructor(
    private readonly ex: Exchange,
    private readonly bytes: Uint8Array,
    bytesPerSecond: number,
    private readonly status: number,
  ) {
    this.slice = Math.max(1, Math.floor((bytesPerSecond * THROTTLE_TICK_MS) / 1000));
  }

  start(): void {
    this.ex.delivery = this;
    this.fire(performance.now());
  }

  fire(now: number): void {
    this.ex.later(() => {
      const end = Math.min(this.bytes.length, this.sent + this.slice);
      const chunk = this.bytes.subarray(this.sent, end);
      this.sent = end;
      if (end === this.bytes.length) {
        this.ex.delivery = null;
        this.ex.res.end(chunk);
        this.ex.finish(this.status);
        return;
      }
      this.ex.res.write(chunk);
      this.ex.services.scheduler.add(this, now + THROTTLE_TICK_MS);
    });
  }

  cancel(): void {
    this.ex.services.scheduler.remove(this);
  }

  fail(err: unknown): void {
    this.ex.fail(err);
  }
}
