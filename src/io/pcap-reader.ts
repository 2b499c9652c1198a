/**
 * Streaming capture reader: classic pcap (all variants) and pcapng, one pull API, constant memory.
 *
 * Flow of `next(rec)`:
 *   1. make sure the next record header is in the read buffer (refill with one big fs.readSync at the
 *      file position, after moving the unread tail to the front; grow only for a record bigger than the buffer)
 *   2. check the lengths against the limits and the block (corrupt input → VtepError 'CAPTURE' naming
 *      the record number and byte offset)
 *   3. make sure the whole record is buffered; if the file ends first, remember `truncatedTail` and
 *      return false (everything before it has been handed out)
 *   4. fill the caller's `rec` with numbers and a view (buf, off) into the read buffer — no allocation.
 *
 * Why our own reader and not the `pcap-parser` package from the design card: pcap-parser 0.2.1 reads classic
 * pcap only (µs magic; no nanosecond magic, no pcapng), is push/event based over a Readable stream (the
 * replay loop wants to pull a batch at a time) and allocates a Buffer slice and a header object per packet.
 * The formats are small; one reader for every variant over one reusable buffer is simpler and faster.
 *
 * Classic pcap (https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcap/):
 *
 *   file header, 24 bytes                     record header, 16 bytes (+8 for the "modified" a1b2cd34 magic)
 *    0 magic a1b2c3d4 (µs) / a1b23c4d (ns)      0 ts seconds
 *    4 version major(2)=2 minor(2)=4             4 ts µs or ns
 *    8 thiszone(4) sigfigs(4)                     8 captured length      followed by the captured bytes
 *   16 snaplen(4)                                12 original length
 *   20 linktype(4): low 26 bits (top bits: FCS length)
 *   Byte order is the writer's; the magic read in the other order means "swap".
 *
 * pcapng (https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcapng/): a sequence of blocks
 *   0 block type(4)   4 block total length(4)   8 body …   len-4 block total length(4) again
 *   SHB 0x0a0d0d0a: body = byte-order magic 1a2b3c4d, major(2)=1, minor(2), section length(8), options.
 *        Starts a section: byte order and the interface list are per section.
 *   IDB 1: linktype(2) reserved(2) snaplen(4) options (if_tsresol=9: 1 byte, MSB 0 → 10^-n s,
 *        MSB 1 → 2^-n s, default 10^-6; if_tsoffset=14: 8 bytes, seconds added to every timestamp)
 *   EPB 6: interface id(4) ts high(4) ts low(4) captured len(4) original len(4) data, padded to 4; options
 *   SPB 3: original len(4) data — interface 0, captured = min(original, snaplen of IDB 0), no timestamp
 *   OPB 2 (obsolete): interface id(2) drops(2) ts high(4) ts low(4) captured(4) original(4) data; options
 *   anything else (NRB 4, ISB 5, DSB 10, custom …) is skipped by its length.
 */
import * as fs from 'node:fs';
import { VtepError } from '../util/errors.ts';

/**
 * One packet record as handed out by {@link CaptureReader.next}. Caller-owned, reused for every call.
 * `buf`/`off` alias the reader's buffer (a `…View` in the style guide's terms): the bytes are valid until
 * the next call of `next()` or `close()`. Timestamps are seconds + nanoseconds whatever the file resolution
 * (0/0 for pcapng simple packet blocks, which carry none).
 */
export interface PcapRecord {
  linkType: number;
  /** 0 for classic pcap; the pcapng interface (IDB index within the current section). */
  interfaceId: number;
  tsSec: number;
  tsNsec: number;
  capLen: number;
  origLen: number;
  buf: Uint8Array;
  off: number;
}

export function newPcapRecord(): PcapRecord {
  return { linkType: 0, interfaceId: 0, tsSec: 0, tsNsec: 0, capLen: 0, origLen: 0, buf: EMPTY, off: 0 };
}

/** Where an incomplete final record starts. `recordIndex` is 0-based (= number of complete records before it). */
export interface TruncatedTail {
  recordIndex: number;
  byteOffset: number;
  /** Bytes missing to complete the record (a lower bound when even its header is cut). */
  missingBytes: number;
}

export interface CaptureReaderOptions {
  /** Size of the read buffer (at most the file size); every refill reads this much. Defaults to 8 MiB. */
  bufferSize?: number;
}

const EMPTY = new Uint8Array(0);
const DEFAULT_BUFFER_SIZE = 8 << 20;
const MIN_BUFFER_SIZE = 64;
/** libpcap's MAXIMUM_SNAPLEN: captured lengths up to this are accepted even when the header snaplen is smaller. */
const MAX_SNAPLEN_FLOOR = 262144;
/** Hard ceiling for one record / block we buffer (a corrupt length must not make us allocate gigabytes). */
const MAX_RECORD_LEN = 64 << 20;

const MAGIC_USEC = 0xa1b2c3d4;
const MAGIC_NSEC = 0xa1b23c4d;
/** Alexey Kuznetsov's patched libpcap ("modified", editcap modpcap): 8 more bytes per record header. */
const MAGIC_MODIFIED = 0xa1b2cd34;
const PCAP_FILE_HDR_LEN = 24;
const PCAP_REC_HDR_LEN = 16;
const PCAP_MOD_REC_HDR_LEN = 24;
const PCAP_SNAPLEN = 16;
const PCAP_LINKTYPE = 20;
const LINKTYPE_MASK = 0x03ffffff; // libpcap LT_LINKTYPE(); the top bits carry FCS information

const BT_SHB = 0x0a0d0d0a;
const BT_IDB = 1;
const BT_OPB = 2;
const BT_SPB = 3;
const BT_EPB = 6;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const BLOCK_HDR_LEN = 8; // type + total length
const BLOCK_MIN_LEN = 12; // + trailing total length
const SHB_MIN_LEN = 28;
const IDB_MIN_LEN = 20;
const EPB_MIN_LEN = 32; // 8 + 5 × 4 + 4
const SPB_MIN_LEN = 16;
const OPT_IF_TSRESOL = 9;
const OPT_IF_TSOFFSET = 14;

/** Timestamp conversion kinds per interface. */
const TS_SMALL = 0; // units per second ≤ 2^32: exact with doubles (16-bit long division)
const TS_BIG = 1; // finer than 2^-32 s (or 10^-10 …): BigInt, allocates (exotic files only)

const TWO32 = 4294967296;

function hex(n: number): string {
  return '0x' + (n >>> 0).toString(16).padStart(8, '0');
}

/** A streaming reader over one capture file. Not thread-safe; one record view alive at a time. */
export class CaptureReader {
  /** Path as given to open(); used in error messages. */
  readonly path: string;
  readonly format: 'pcap' | 'pcapng';
  readonly fileSize: number;
  /** Set when the file ends inside a record; `next()` then returned false. */
  truncatedTail: TruncatedTail | null = null;

  private fd: number;
  private buf: Uint8Array;
  private dv: DataView;
  /** File offset of buf[0]. */
  private bufFileOff = 0;
  /** Index in buf of the next unread byte. */
  private pos = 0;
  /** Number of valid bytes in buf. */
  private end = 0;
  private le = true;
  private records = 0;
  private done = false;
  private nsec = false;
  private ng = false;
  private small4 = new Uint8Array(4);

  // classic pcap
  private pcapLinkType = 0;
  private pcapSnaplen = 0;
  private pcapMaxCap = 0;
  private pcapRecHdrLen = PCAP_REC_HDR_LEN;
  private pcapFracToNs = 1000;

  // pcapng, current section: one entry per IDB
  private ifLinkType: number[] = [];
  private ifSnaplen: number[] = [];
  private ifMaxCap: number[] = [];
  private ifTsKind: number[] = [];
  /** Units per second (TS_SMALL). */
  private ifTsUnits: number[] = [];
  /** Nanoseconds per unit for power-of-ten resolutions ≤ 10^9 (exact), 0 for power-of-two ones. */
  private ifTsNsPerUnit: number[] = [];
  private ifTsOffset: number[] = [];
  private ifTsBigUnits: bigint[] = [];
  private sections = 0;

  private constructor(path: string, fd: number, fileSize: number, bufferSize: number) {
    this.path = path;
    this.fd = fd;
    this.fileSize = fileSize;
    // A small file gets a buffer of its own size (it can never need more, unless it grows while read).
    this.buf = new Uint8Array(Math.max(MIN_BUFFER_SIZE, Math.min(bufferSize, fileSize)));
    this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    try {
      this.format = this.readFileHeader();
      this.ng = this.format === 'pcapng';
      // pcapng: read the SHB and the IDBs in front of the first packet so that linkType/nanosecond are known.
      if (this.format === 'pcapng') this.toPacketBlock();
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /**
   * Open a capture. Throws VtepError('CAPTURE') naming the file when it is empty, too short for a file
   * header, has an unknown magic or a corrupt first section; VtepError('IO') when it cannot be opened.
   */
  static open(path: string, options: CaptureReaderOptions = {}): CaptureReader {
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (e) {
      throw new VtepError('IO', `${path}: cannot open capture: ${(e as Error).message}`);
    }
    let size: number;
    try {
      size = fs.fstatSync(fd).size;
    } catch (e) {
      fs.closeSync(fd);
      throw new VtepError('IO', `${path}: cannot stat capture: ${(e as Error).message}`);
    }
    return new CaptureReader(path, fd, size, options.bufferSize ?? DEFAULT_BUFFER_SIZE);
  }

  /** True when timestamps are finer than microseconds (ns pcap magic, or a pcapng IDB seen so far with finer if_tsresol). */
  get nanosecond(): boolean {
    return this.nsec;
  }

  /** Number of packet records handed out so far (the last one's 1-based number, as Wireshark counts frames). */
  get recordIndex(): number {
    return this.records;
  }

  /** File offset of the next unread byte (the start of the next record or block). */
  get byteOffset(): number {
    return this.bufFileOff + this.pos;
  }

  /** Link type of the file (classic) or of the first interface of the first section seen (pcapng; -1 if none yet). */
  get linkType(): number {
    if (this.format === 'pcap') return this.pcapLinkType;
    return this.ifLinkType.length > 0 ? this.ifLinkType[0]! : -1;
  }

  /** Snapshot length of the file header (classic) or of interface 0 (pcapng; 0 = unlimited, -1 if none yet). */
  get snaplen(): number {
    if (this.format === 'pcap') return this.pcapSnaplen;
    return this.ifSnaplen.length > 0 ? this.ifSnaplen[0]! : -1;
  }

  /** Number of pcapng sections started so far (1 for classic pcap). */
  get sectionCount(): number {
    return this.format === 'pcap' ? 1 : this.sections;
  }

  close(): void {
    if (this.fd >= 0) {
      fs.closeSync(this.fd);
      this.fd = -1;
    }
    this.done = true;
  }

  /**
   * Fill `rec` with the next packet record and return true, or return false at the end of the file (then
   * check `truncatedTail`). The view `rec.buf[rec.off, rec.off + rec.capLen)` is valid until the next call.
   * Throws VtepError('CAPTURE') on corrupt input. No allocation per record.
   */
  next(rec: PcapRecord): boolean {
    if (this.done) return false;
    if (this.ng) return this.nextBlock(rec);
    const h = this.pcapRecHdrLen;
    let p = this.pos;
    if (this.end - p < h) {
      if (!this.fill(h)) return this.atEof(h);
      p = this.pos;
    }
    let dv = this.dv;
    const le = this.le;
    const capLen = dv.getUint32(p + 8, le);
    if (capLen > this.pcapMaxCap) {
      throw this.corrupt(`capLen ${capLen} exceeds snaplen ${this.pcapSnaplen} (limit ${this.pcapMaxCap})`);
    }
    const recLen = h + capLen;
    if (this.end - p < recLen) {
      if (!this.fill(recLen)) return this.atEof(recLen);
      p = this.pos;
      dv = this.dv;
    }
    rec.linkType = this.pcapLinkType;
    rec.interfaceId = 0;
    rec.tsSec = dv.getUint32(p, le);
    rec.tsNsec = dv.getUint32(p + 4, le) * this.pcapFracToNs;
    rec.capLen = capLen;
    rec.origLen = dv.getUint32(p + 12, le);
    rec.buf = this.buf;
    rec.off = p + h;
    this.pos = p + recLen;
    this.records++;
    return true;
  }

  // ---------------------------------------------------------------------------------------------------------
  // buffer management

  /**
   * Make `need` bytes available from `pos`. Moves the unread tail to the front, grows the buffer if `need`
   * exceeds it, then reads as much as fits. False if the file ends first (what there is stays buffered).
   */
  private fill(need: number): boolean {
    if (this.end - this.pos >= need) return true;
    if (this.pos > 0) {
      if (this.end > this.pos) this.buf.copyWithin(0, this.pos, this.end);
      this.bufFileOff += this.pos;
      this.end -= this.pos;
      this.pos = 0;
    }
    // The file (as sized at open) cannot hold it: a truncated tail. Neither grow nor read for it.
    if (this.bufFileOff + need > this.fileSize) return false;
    if (need > this.buf.length) this.grow(need);
    while (this.end < need) {
      if (this.fd < 0) return false;
      const n = fs.readSync(this.fd, this.buf, this.end, this.buf.length - this.end, this.bufFileOff + this.end);
      if (n === 0) return false;
      this.end += n;
    }
    return true;
  }

  private grow(need: number): void {
    let size = this.buf.length;
    while (size < need) size *= 2;
    const nb = new Uint8Array(size);
    nb.set(this.buf.subarray(0, this.end));
    this.buf = nb;
    this.dv = new DataView(nb.buffer, nb.byteOffset, nb.byteLength);
  }

  /**
   * The file ends before `need` bytes of the record at `pos`: clean EOF when nothing is left, else a
   * truncated tail. The file size is the one seen at open (captures are not read while being written).
   */
  private atEof(need: number): boolean {
    const have = this.fileSize - this.byteOffset;
    this.done = true;
    if (have > 0) {
      this.truncatedTail = {
        recordIndex: this.records,
        byteOffset: this.byteOffset,
        missingBytes: need > have ? need - have : 1,
      };
    }
    return false;
  }

  private corrupt(what: string): VtepError {
    return new VtepError('CAPTURE', `${this.path}: record ${this.records + 1} at byte ${this.byteOffset}: ${what}`);
  }

  private corruptBlock(type: number, what: string): VtepError {
    return new VtepError('CAPTURE', `${this.path}: block ${hex(type)} at byte ${this.byteOffset}: ${what}`);
  }

  // ---------------------------------------------------------------------------------------------------------
  // file header

  private readFileHeader(): 'pcap' | 'pcapng' {
    if (this.fileSize === 0) throw new VtepError('CAPTURE', `${this.path}: empty file (no capture header)`);
    if (!this.fill(4)) {
      throw new VtepError('CAPTURE', `${this.path}: ${this.fileSize} bytes is too short for a capture header`);
    }
    const magicLE = this.dv.getUint32(0, true);
    const magicBE = this.dv.getUint32(0, false);
    if (magicLE === BT_SHB) return 'pcapng';
    let le: boolean;
    let magic: number;
    if (magicLE === MAGIC_USEC || magicLE === MAGIC_NSEC || magicLE === MAGIC_MODIFIED) {
      le = true;
      magic = magicLE;
    } else if (magicBE === MAGIC_USEC || magicBE === MAGIC_NSEC || magicBE === MAGIC_MODIFIED) {
      le = false;
      magic = magicBE;
    } else {
      throw new VtepError('CAPTURE', `${this.path}: not a pcap or pcapng file (magic ${hex(magicBE)})`);
    }
    if (!this.fill(PCAP_FILE_HDR_LEN)) {
      throw new VtepError('CAPTURE', `${this.path}: truncated pcap file header (${this.fileSize} of ${PCAP_FILE_HDR_LEN} bytes)`);
    }
    const dv = this.dv;
    const major = dv.getUint16(4, le);
    const minor = dv.getUint16(6, le);
    if (major !== 2) throw new VtepError('CAPTURE', `${this.path}: unsupported pcap version ${major}.${minor}`);
    this.le = le;
    this.nsec = magic === MAGIC_NSEC;
    this.pcapFracToNs = magic === MAGIC_NSEC ? 1 : 1000;
    this.pcapRecHdrLen = magic === MAGIC_MODIFIED ? PCAP_MOD_REC_HDR_LEN : PCAP_REC_HDR_LEN;
    this.pcapSnaplen = dv.getUint32(PCAP_SNAPLEN, le);
    this.pcapLinkType = dv.getUint32(PCAP_LINKTYPE, le) & LINKTYPE_MASK;
    this.pcapMaxCap = Math.min(Math.max(this.pcapSnaplen, MAX_SNAPLEN_FLOOR), MAX_RECORD_LEN);
    this.pos = PCAP_FILE_HDR_LEN;
    return 'pcap';
  }

  // ---------------------------------------------------------------------------------------------------------
  // pcapng

  /**
   * Process non-packet blocks until `pos` is at a packet block (true) or the file ends (false, with
   * `truncatedTail` set if it ends inside a block).
   */
  private toPacketBlock(): boolean {
    for (;;) {
      if (this.end - this.pos < BLOCK_MIN_LEN && !this.fill(BLOCK_MIN_LEN)) return this.atEof(BLOCK_MIN_LEN);
      const p = this.pos;
      const type = this.dv.getUint32(p, this.le);
      if (type === BT_SHB) {
        // The SHB type reads the same in both byte orders; its byte-order magic sets the section's order.
        const bom = this.dv.getUint32(p + 8, true);
        if (bom === BYTE_ORDER_MAGIC) this.le = true;
        else if (bom === 0x4d3c2b1a) this.le = false;
        else throw this.corruptBlock(BT_SHB, `bad byte-order magic ${hex(bom)}`);
      } else if (this.sections === 0) {
        throw this.corruptBlock(type, 'pcapng file does not start with a section header block');
      }
      const len = this.dv.getUint32(p + 4, this.le);
      if (len < BLOCK_MIN_LEN || (len & 3) !== 0) throw this.corruptBlock(type, `bad block length ${len}`);
      if (type === BT_EPB || type === BT_SPB || type === BT_OPB) {
        if (len > MAX_RECORD_LEN) throw this.corrupt(`block length ${len} exceeds the limit ${MAX_RECORD_LEN}`);
        return true;
      }
      if (type === BT_SHB || type === BT_IDB) {
        if (len > MAX_RECORD_LEN) throw this.corruptBlock(type, `block length ${len} exceeds the limit ${MAX_RECORD_LEN}`);
        if (this.end - this.pos < len && !this.fill(len)) return this.atEof(len);
        this.checkTrailer(type, len);
        if (type === BT_SHB) this.readShb(len);
        else this.readIdb(len);
        this.pos += len;
        continue;
      }
      // Anything else (NRB, ISB, DSB, custom, unknown): skip by its length.
      if (this.end - this.pos >= len) {
        this.checkTrailer(type, len);
        this.pos += len;
        continue;
      }
      const blockOff = this.byteOffset;
      if (blockOff + len > this.fileSize) return this.atEof(len);
      // A block larger than what is buffered: check its trailer with one small read, then jump past it.
      if (this.fd >= 0) fs.readSync(this.fd, this.small4, 0, 4, blockOff + len - 4);
      const trailer = new DataView(this.small4.buffer).getUint32(0, this.le);
      if (trailer !== len) throw this.corruptBlock(type, `trailing block length ${trailer} differs from ${len}`);
      this.bufFileOff = blockOff + len;
      this.pos = 0;
      this.end = 0;
    }
  }

  private checkTrailer(type: number, len: number): void {
    const trailer = this.dv.getUint32(this.pos + len - 4, this.le);
    if (trailer !== len) throw this.corruptBlock(type, `trailing block length ${trailer} differs from ${len}`);
  }

  private readShb(len: number): void {
    const p = this.pos;
    if (len < SHB_MIN_LEN) throw this.corruptBlock(BT_SHB, `bad block length ${len}`);
    const major = this.dv.getUint16(p + 12, this.le);
    const minor = this.dv.getUint16(p + 14, this.le);
    if (major !== 1) throw this.corruptBlock(BT_SHB, `unsupported pcapng version ${major}.${minor}`);
    this.sections++;
    this.ifLinkType.length = 0;
    this.ifSnaplen.length = 0;
    this.ifMaxCap.length = 0;
    this.ifTsKind.length = 0;
    this.ifTsUnits.length = 0;
    this.ifTsNsPerUnit.length = 0;
    this.ifTsOffset.length = 0;
    this.ifTsBigUnits.length = 0;
  }

  private readIdb(len: number): void {
    const dv = this.dv;
    const le = this.le;
    const p = this.pos;
    if (len < IDB_MIN_LEN) throw this.corruptBlock(BT_IDB, `bad block length ${len}`);
    const linkType = dv.getUint16(p + 8, le);
    const snaplen = dv.getUint32(p + 12, le);
    let resol = 6;
    let tsOffset = 0;
    // options: code(2) length(2) value padded to 4, until opt_endofopt (0) or the trailer
    let o = p + 16;
    const optEnd = p + len - 4;
    while (o + 4 <= optEnd) {
      const code = dv.getUint16(o, le);
      const olen = dv.getUint16(o + 2, le);
      if (code === 0) break;
      if (o + 4 + olen > optEnd) throw this.corruptBlock(BT_IDB, `option ${code} (length ${olen}) overruns the block`);
      if (code === OPT_IF_TSRESOL && olen >= 1) resol = this.buf[o + 4]!;
      else if (code === OPT_IF_TSOFFSET && olen >= 8) {
        // signed 64-bit seconds, in the section's byte order
        const hi = le ? dv.getInt32(o + 8, true) : dv.getInt32(o + 4, false);
        const lo = le ? dv.getUint32(o + 4, true) : dv.getUint32(o + 8, false);
        tsOffset = hi * TWO32 + lo;
      }
      o += 4 + ((olen + 3) & ~3);
    }
    const pow2 = (resol & 0x80) !== 0;
    const exp = resol & 0x7f;
    let kind = TS_SMALL;
    let units = 0;
    let nsPerUnit = 0;
    let bigUnits = 0n;
    if (pow2 ? exp <= 32 : exp <= 9) {
      units = pow2 ? 2 ** exp : 10 ** exp;
      nsPerUnit = pow2 ? 0 : 10 ** (9 - exp);
    } else {
      kind = TS_BIG;
      bigUnits = pow2 ? 1n << BigInt(exp) : 10n ** BigInt(exp);
    }
    // finer than a microsecond: 10^-7.. or 2^-20.. (2^-20 s ≈ 0.95 µs)
    if (pow2 ? exp >= 20 : exp > 6) this.nsec = true;
    this.ifLinkType.push(linkType);
    this.ifSnaplen.push(snaplen);
    this.ifMaxCap.push(Math.min(Math.max(snaplen, MAX_SNAPLEN_FLOOR), MAX_RECORD_LEN));
    this.ifTsKind.push(kind);
    this.ifTsUnits.push(units);
    this.ifTsNsPerUnit.push(nsPerUnit);
    this.ifTsOffset.push(tsOffset);
    this.ifTsBigUnits.push(bigUnits);
  }

  private nextBlock(rec: PcapRecord): boolean {
    if (!this.toPacketBlock()) return false;
    const le = this.le;
    let dv = this.dv;
    let p = this.pos;
    const type = dv.getUint32(p, le);
    const len = dv.getUint32(p + 4, le);
    if (this.end - p < len) {
      if (!this.fill(len)) return this.atEof(len);
      p = this.pos;
      dv = this.dv;
    }
    const trailer = dv.getUint32(p + len - 4, le);
    if (trailer !== len) throw this.corrupt(`trailing block length ${trailer} differs from ${len}`);
    const nIf = this.ifLinkType.length;
    let ifId: number;
    let capLen: number;
    let origLen: number;
    let dataOff: number;
    if (type === BT_SPB) {
      if (len < SPB_MIN_LEN) throw this.corrupt(`bad simple packet block length ${len}`);
      if (nIf === 0) throw this.corrupt('simple packet block before any interface description block');
      ifId = 0;
      origLen = dv.getUint32(p + 8, le);
      capLen = origLen;
      const snap = this.ifSnaplen[0]!;
      if (snap !== 0 && capLen > snap) capLen = snap;
      if (capLen > len - SPB_MIN_LEN) capLen = len - SPB_MIN_LEN;
      dataOff = p + 12;
      rec.tsSec = 0;
      rec.tsNsec = 0;
    } else {
      if (len < EPB_MIN_LEN) throw this.corrupt(`bad packet block length ${len}`);
      ifId = type === BT_EPB ? dv.getUint32(p + 8, le) : dv.getUint16(p + 8, le);
      if (ifId >= nIf) throw this.corrupt(`interface ${ifId} not described (section has ${nIf})`);
      capLen = dv.getUint32(p + 20, le);
      origLen = dv.getUint32(p + 24, le);
      if (capLen > len - EPB_MIN_LEN) throw this.corrupt(`capLen ${capLen} exceeds the block (length ${len})`);
      dataOff = p + 28;
      this.setTimestamp(rec, ifId, dv.getUint32(p + 12, le), dv.getUint32(p + 16, le));
    }
    if (capLen > this.ifMaxCap[ifId]!) {
      throw this.corrupt(`capLen ${capLen} exceeds snaplen ${this.ifSnaplen[ifId]} (limit ${this.ifMaxCap[ifId]})`);
    }
    rec.linkType = this.ifLinkType[ifId]!;
    rec.interfaceId = ifId;
    rec.capLen = capLen;
    rec.origLen = origLen;
    rec.buf = this.buf;
    rec.off = dataOff;
    this.pos = p + len;
    this.records++;
    return true;
  }

  /** 64-bit tick count (hi, lo) in the interface's resolution → rec.tsSec / rec.tsNsec (truncated to ns). */
  private setTimestamp(rec: PcapRecord, ifId: number, hi: number, lo: number): void {
    if (this.ifTsKind[ifId] === TS_SMALL) {
      // Long division by U ≤ 2^32 in 16-bit steps: every intermediate stays below 2^48, so doubles are exact.
      const u = this.ifTsUnits[ifId]!;
      const q1 = Math.floor(hi / u);
      let r = hi - q1 * u;
      let x = r * 65536 + (lo >>> 16);
      const q2 = Math.floor(x / u);
      r = x - q2 * u;
      x = r * 65536 + (lo & 0xffff);
      const q3 = Math.floor(x / u);
      r = x - q3 * u;
      rec.tsSec = q1 * TWO32 + q2 * 65536 + q3 + this.ifTsOffset[ifId]!;
      const nsPerUnit = this.ifTsNsPerUnit[ifId]!;
      // 2^-n units: r < 2^32, and r·10^9 = r·1953125·2^9 with r·1953125 < 2^53, so the product is exact.
      rec.tsNsec = nsPerUnit !== 0 ? r * nsPerUnit : Math.floor((r * 1e9) / u);
      return;
    }
    const u = this.ifTsBigUnits[ifId]!;
    const ticks = (BigInt(hi) << 32n) | BigInt(lo);
    rec.tsSec = Number(ticks / u) + this.ifTsOffset[ifId]!;
    rec.tsNsec = Number(((ticks % u) * 1_000_000_000n) / u);
  }
}
