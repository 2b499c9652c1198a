/**
 * The live dataplane's packet memory: one ArrayBuffer cut into fixed-size slots, allocated once at
 * start. A slot is `slotSize` bytes; packets are read into a slot at `base + headroom`, so that encap
 * can write the outer headers in front of the packet in place and decap can hand out the inner packet
 * as an offset into the same slot (no copy either way).
 *
 *   slot i:  [ base_i ........ headroom ........ | packet (readCapacity bytes) .......... ]
 *             base_i = i * slotSize               read offset = base_i + headroom
 *
 * Regions are runs of consecutive slots with a role (TUN reads, one per underlay socket, ICMP
 * replies); each region owns `offsets` (read offsets) for its batch calls.
 */

/** Bytes kept in front of every read offset. Covers the engine's ENCAP_HEADROOM (96) and the 40-byte
 * IPv6 header the IPIP/IPv6 receive path writes in front of a raw-socket payload. */
export const SLOT_HEADROOM = 128;

const ALIGN = 64;

/** Slot size for packets of up to `maxPacket` bytes (rounded up to a cache-line multiple). */
export function slotSizeFor(maxPacket: number): number {
  const need = SLOT_HEADROOM + maxPacket;
  return Math.ceil(need / ALIGN) * ALIGN;
}

export interface SlotRegion {
  /** First slot index of the region. */
  readonly first: number;
  /** Number of slots. */
  readonly count: number;
  /** Read offsets (base + headroom) of the region's slots, for batch reads. */
  readonly offsets: Int32Array;
}

export class SlotPool {
  /** The whole pool; every offset in this module is an index into it. */
  readonly pool: Buffer;
  readonly slotSize: number;
  readonly slotCount: number;
  /** Bytes a read may write at a read offset. */
  readonly readCapacity: number;
  private next = 0;

  constructor(slotCount: number, slotSize: number) {
    if (!Number.isInteger(slotCount) || slotCount <= 0) throw new RangeError(`slotCount ${slotCount} must be a positive integer`);
    if (!Number.isInteger(slotSize) || slotSize <= SLOT_HEADROOM) throw new RangeError(`slotSize ${slotSize} must exceed the headroom ${SLOT_HEADROOM}`);
    this.slotSize = slotSize;
    this.slotCount = slotCount;
    this.readCapacity = slotSize - SLOT_HEADROOM;
    this.pool = Buffer.from(new ArrayBuffer(slotCount * slotSize));
  }

  /** Take the next `count` slots as a region. Throws RangeError when the pool is exhausted (a sizing bug). */
  region(count: number): SlotRegion {
    if (this.next + count > this.slotCount) throw new RangeError(`slot pool exhausted: ${this.next} + ${count} > ${this.slotCount}`);
    const first = this.next;
    this.next += count;
    const offsets = new Int32Array(count);
    for (let i = 0; i < count; i++) offsets[i] = (first + i) * this.slotSize + SLOT_HEADROOM;
    return { first, count, offsets };
  }
}
