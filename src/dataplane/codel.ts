/**
 * CoDel (RFC 8289) for the live dataplane's underlay receive queue.
 *
 * The queue is the kernel's: datagrams wait in the underlay socket until vtep reads them, and that wait
 * is each datagram's sojourn time (SO_TIMESTAMPNS at the socket, compared with the clock at read).
 * Under a TCP flow that the tunnel cannot keep up with, the socket buffer fills to whatever the flow's
 * window allows (megabytes: milliseconds of delay for every other flow through the tunnel, pings
 * included), and nothing is ever dropped, so TCP never learns. CoDel drops (or CE-marks, for an
 * ECN-capable inner packet) one packet when the sojourn has stayed above `target` for a whole
 * `interval`, then at intervals shrinking with 1/√count while it stays above: the flow backs off until
 * the standing queue is about `target` long.
 *
 * Time is in microseconds (`now` from the caller: one clock read per batch). No allocation.
 */
export class Codel {
  /** Packets the control law chose (each dropped or marked by the caller). */
  signals = 0;
  private firstAboveTime = 0;
  private dropNext = 0;
  private count = 0;
  private lastCount = 0;
  private dropping = false;

  constructor(readonly targetUs: number, readonly intervalUs: number) {
    if (!(targetUs > 0) || !(intervalUs > targetUs)) throw new RangeError(`CoDel target ${targetUs} µs must be > 0 and below the interval ${intervalUs} µs`);
  }

  /**
   * One dequeued packet that waited `sojournUs` (negative: unknown, treated as below target) at time `nowUs`.
   * Returns true when this packet is to be dropped (or CE-marked).
   */
  onDequeue(sojournUs: number, nowUs: number): boolean {
    let okToDrop = false;
    if (sojournUs < this.targetUs) {
      this.firstAboveTime = 0;
    } else if (this.firstAboveTime === 0) {
      this.firstAboveTime = nowUs + this.intervalUs;
    } else if (nowUs >= this.firstAboveTime) {
      okToDrop = true;
    }
    if (this.dropping) {
      if (!okToDrop) {
        this.dropping = false;
        return false;
      }
      if (nowUs >= this.dropNext) {
        this.count++;
        this.dropNext = this.controlLaw(this.dropNext);
        this.signals++;
        return true;
      }
      return false;
    }
    if (!okToDrop) return false;
    this.dropping = true;
    // resume near the previous drop rate if the last dropping state ended recently (RFC 8289 §5.6)
    const delta = this.count - this.lastCount;
    this.count = delta > 1 && nowUs - this.dropNext < 16 * this.intervalUs ? delta : 1;
    this.lastCount = this.count;
    this.dropNext = this.controlLaw(nowUs);
    this.signals++;
    return true;
  }

  private controlLaw(t: number): number {
    return t + this.intervalUs / Math.sqrt(this.count);
  }
}
