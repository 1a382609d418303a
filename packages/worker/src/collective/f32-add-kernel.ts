// The reduction kernel of the ring: dst[offset + i] += src[i] in float32. A V8 loop over
// Float32Arrays is not vectorized (measured 1.7-2.5 GB/s on this machine); a WebAssembly SIMD
// f32x4.add kernel runs at 6-9 GB/s even counting the copies of the destination block into wasm
// memory and back (wasm can only touch its own memory).
// The tcp transport's receive buffers are carved out of wasm memory (allocateReceiveBuffer), so
// received payloads are added without a copy in. A worker's fused buffer is allocated in wasm memory
// too (allocateReductionBuffer: its own memory, with receive slots beside it), so its adds copy
// nothing: 12 MB added measured 0.29 ms in place against 0.71-0.97 ms through the scratch blocks.
// f32x4.add rounds each lane exactly like a scalar float32 add, so sums are bit-identical to the JS
// loop, which stays as the fallback where WebAssembly SIMD is unavailable (or DTRAIN_F32_KERNEL=js).
// The wasm module is hand-assembled (below): no build step, no dependency.

/** Elements added per wasm call: the destination block stays in L2 between copy-in and copy-out. */
const BLOCK_ELEMS = 16 * 1024;
/** Below this many elements the JS loop wins (call and copy overheads). */
const MIN_WASM_ELEMS = 256;
const PAGE_BYTES = 64 * 1024;
/** DTRAIN_REDUCTION_ARENA=0: reduction buffers in ordinary memory, as before (A/B benches). */
const REDUCTION_ARENAS = process.env.DTRAIN_REDUCTION_ARENA !== '0';
/** The most pages a 32-bit wasm memory can have (4 GiB). */
const MAX_PAGES = 65536;
/** Receive buffers handed out of wasm memory; more live readers fall back to ordinary buffers. */
const RECEIVE_SLOTS = 4;
/** Size of each receive slot: the tcp transport's read buffer (tcp-frames.ts uses this size). */
export const RECEIVE_SLOT_BYTES = 4 * 1024 * 1024;

/** The slice of the WebAssembly API used here (lib ES2022 without DOM types declares no value). */
interface WasmApi {
  Memory: new (descriptor: { initial: number; maximum: number }) => { buffer: ArrayBuffer };
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}

function wasmApi(): WasmApi | undefined {
  return (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
}

export type F32KernelKind = 'wasm-simd' | 'js';

export interface F32AddKernel {
  readonly kind: F32KernelKind;
  /** dst[dstOffset + i] += src[i] for every i < src.length. */
  addInto(dst: Float32Array, dstOffset: number, src: Float32Array): void;
  /**
   * A receive buffer of `bytes` (8-aligned start) that addInto reads without copying; call
   * release() when done with it. Ordinary memory when the kernel is JS or the slots are used up.
   */
  allocateReceiveBuffer(bytes: number): { buffer: Buffer; release(): void };
  /**
   * A zeroed buffer to all-reduce into, inside wasm memory: adds into it need no copy of the
   * destination, and none at all from receive buffers allocated after it. An ordinary Float32Array
   * for the JS kernel, or when wasm memory can't hold it.
   */
  allocateReductionBuffer(elements: number): Float32Array;
}

/** The JS loop (also the tail of the wasm path): 4-way unrolled, measured ~1.2x the plain loop. */
export function addIntoJs(dst: Float32Array, dstOffset: number, src: Float32Array, from = 0): void {
  const n = src.length;
  let i = from;
  for (; i + 4 <= n; i += 4) {
    const d = dstOffset + i;
    dst[d] += src[i];
    dst[d + 1] += src[i + 1];
    dst[d + 2] += src[i + 2];
    dst[d + 3] += src[i + 3];
  }
  for (; i < n; i++) dst[dstOffset + i] += src[i];
}

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

function name(s: string): number[] {
  return [s.length, ...Buffer.from(s, 'latin1')];
}

/**
 * (module (import "e" "m" (memory N))
 *   (func (export "add") (param $d i32) (param $s i32) (param $bytes i32) (local $end i32)
 *     ;; bytes is a multiple of 32: two f32x4 lanes per iteration
 *     end = d + bytes; if bytes != 0: loop { store(d, load(d) + load(s)); (+16); s += 32; d += 32; while d < end }))
 */
function addModuleBytes(pages: number): Uint8Array {
  const get = (i: number): number[] => [0x20, i];
  const set = (i: number): number[] => [0x21, i];
  const tee = (i: number): number[] => [0x22, i];
  const v128Load = (offset: number): number[] => [0xfd, 0x00, 4, ...uleb(offset)];
  const v128Store = (offset: number): number[] => [0xfd, 0x0b, 4, ...uleb(offset)];
  const f32x4Add = [0xfd, 0xe4, 0x01];
  const body: number[] = [
    ...get(0), ...get(2), 0x6a, ...set(3),
    0x02, 0x40, ...get(2), 0x45, 0x0d, 0x00,
    0x03, 0x40,
  ];
  for (const offset of [0, 16]) {
    body.push(...get(0), ...get(0), ...v128Load(offset), ...get(1), ...v128Load(offset), ...f32x4Add, ...v128Store(offset));
  }
  body.push(
    ...get(1), 0x41, 32, 0x6a, ...set(1),
    ...get(0), 0x41, 32, 0x6a, ...tee(0), ...get(3), 0x49, 0x0d, 0x00,
    0x0b, 0x0b, 0x0b,
  );
  const func = [1, 1, 0x7f, ...body];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 3, 0x7f, 0x7f, 0x7f, 0]),
    ...section(2, [1, ...name('e'), ...name('m'), 2, 0, ...uleb(pages)]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...name('add'), 0, 0]),
    ...section(10, [1, ...uleb(func.length), ...func]),
  ]);
}

const JS_KERNEL: F32AddKernel = {
  kind: 'js',
  addInto: (dst, dstOffset, src) => addIntoJs(dst, dstOffset, src),
  allocateReceiveBuffer: (bytes) => ({ buffer: Buffer.allocUnsafeSlow(bytes), release: () => undefined }),
  allocateReductionBuffer: (elements) => new Float32Array(elements),
};

/**
 * One wasm memory and its own instance of the add module: two scratch blocks, the receive slots, and
 * (for a reduction buffer's arena) that buffer. Adds whose destination lives here run in place.
 */
class WasmArena {
  readonly heap: ArrayBuffer;
  private readonly f32: Float32Array;
  private readonly add: (dst: number, src: number, bytes: number) => void;
  /** Byte offsets: destination scratch, source scratch, the receive slots, then the reduction buffer. */
  private readonly dstScratch = 0;
  private readonly srcScratch = BLOCK_ELEMS * 4;
  private readonly slotBase = 2 * BLOCK_ELEMS * 4;
  readonly bufferBase: number;
  private readonly freeSlots: number[];

  constructor(wasm: WasmApi, module: object, private readonly slotBytes: number, bufferBytes: number) {
    this.bufferBase = this.slotBase + RECEIVE_SLOTS * slotBytes;
    const pages = Math.ceil((this.bufferBase + bufferBytes) / PAGE_BYTES);
    if (pages > MAX_PAGES) throw new RangeError(`${pages} wasm pages is more than ${MAX_PAGES}`);
    // A fixed size: growing a wasm memory detaches its ArrayBuffer, and views on it are handed out.
    const memory = new wasm.Memory({ initial: pages, maximum: pages });
    const instance = new wasm.Instance(module, { e: { m: memory } });
    this.add = instance.exports.add as (dst: number, src: number, bytes: number) => void;
    this.heap = memory.buffer;
    this.f32 = new Float32Array(this.heap);
    this.freeSlots = [...Array(RECEIVE_SLOTS).keys()];
  }

  /** dst is the caller's memory: each block is copied in, added, and copied back out. */
  addThroughScratch(dst: Float32Array, dstOffset: number, src: Float32Array, whole: number): void {
    const inHeap = src.buffer === this.heap;
    const f32 = this.f32;
    const dstAt = this.dstScratch >> 2;
    const srcAt = this.srcScratch >> 2;
    for (let b = 0; b < whole; b += BLOCK_ELEMS) {
      const len = Math.min(BLOCK_ELEMS, whole - b);
      const d = dstOffset + b;
      f32.set(dst.subarray(d, d + len), dstAt);
      let srcPtr: number;
      if (inHeap) {
        srcPtr = src.byteOffset + b * 4;
      } else {
        f32.set(src.subarray(b, b + len), srcAt);
        srcPtr = this.srcScratch;
      }
      this.add(this.dstScratch, srcPtr, len * 4);
      dst.set(f32.subarray(dstAt, dstAt + len), d);
    }
  }

  /** dst lives in this arena: added where it is; a source from elsewhere is copied in block by block. */
  addInPlace(dst: Float32Array, dstOffset: number, src: Float32Array, whole: number): void {
    const dstPtr = dst.byteOffset + dstOffset * 4;
    if (src.buffer === this.heap) {
      this.add(dstPtr, src.byteOffset, whole * 4);
      return;
    }
    const srcAt = this.srcScratch >> 2;
    for (let b = 0; b < whole; b += BLOCK_ELEMS) {
      const len = Math.min(BLOCK_ELEMS, whole - b);
      this.f32.set(src.subarray(b, b + len), srcAt);
      this.add(dstPtr + b * 4, this.srcScratch, len * 4);
    }
  }

  /** A free receive slot of at least `bytes`, or null. */
  takeSlot(bytes: number): { buffer: Buffer; release(): void } | null {
    const slot = bytes <= this.slotBytes ? this.freeSlots.pop() : undefined;
    if (slot === undefined) return null;
    let released = false;
    return {
      buffer: Buffer.from(this.heap, this.slotBase + slot * this.slotBytes, bytes),
      release: () => {
        if (released) return;
        released = true;
        this.freeSlots.push(slot);
      },
    };
  }
}

class WasmF32AddKernel implements F32AddKernel {
  readonly kind = 'wasm-simd' as const;
  private readonly module: object;
  /** The arena for destinations outside wasm memory, and its receive slots. */
  private readonly main: WasmArena;
  /** Reduction buffers' arenas by their memory (an arena lives as long as a view of its memory). */
  private readonly arenas = new WeakMap<ArrayBuffer, WasmArena>();
  /** Receive buffers come from the newest reduction buffer's arena: its adds then need no copies. */
  private newest: WeakRef<WasmArena> | null = null;

  constructor(private readonly wasm: WasmApi, private readonly slotBytes: number) {
    this.module = new wasm.Module(addModuleBytes(1));
    this.main = new WasmArena(wasm, this.module, slotBytes, 0);
  }

  addInto(dst: Float32Array, dstOffset: number, src: Float32Array): void {
    const n = src.length;
    if (n < MIN_WASM_ELEMS) {
      addIntoJs(dst, dstOffset, src);
      return;
    }
    const whole = n & ~7;
    const arena = this.arenas.get(dst.buffer as ArrayBuffer);
    if (arena) arena.addInPlace(dst, dstOffset, src, whole);
    else this.main.addThroughScratch(dst, dstOffset, src, whole);
    if (whole < n) addIntoJs(dst, dstOffset, src, whole);
  }

  allocateReceiveBuffer(bytes: number): { buffer: Buffer; release(): void } {
    return this.newest?.deref()?.takeSlot(bytes) ?? this.main.takeSlot(bytes) ?? JS_KERNEL.allocateReceiveBuffer(bytes);
  }

  allocateReductionBuffer(elements: number): Float32Array {
    if (!REDUCTION_ARENAS) return JS_KERNEL.allocateReductionBuffer(elements);
    let arena: WasmArena;
    try {
      arena = new WasmArena(this.wasm, this.module, this.slotBytes, elements * 4);
    } catch {
      return JS_KERNEL.allocateReductionBuffer(elements); // larger than a wasm memory can be, or no memory left
    }
    this.arenas.set(arena.heap, arena);
    this.newest = new WeakRef(arena);
    return new Float32Array(arena.heap, arena.bufferBase, elements);
  }
}

let kernel: F32AddKernel | null = null;

/** The process's kernel: wasm SIMD when it compiles here, else the JS loop. */
export function f32AddKernel(): F32AddKernel {
  if (kernel) return kernel;
  kernel = JS_KERNEL;
  const wasm = wasmApi();
  if (process.env.DTRAIN_F32_KERNEL !== 'js' && wasm) {
    try {
      kernel = new WasmF32AddKernel(wasm, RECEIVE_SLOT_BYTES);
    } catch {
      kernel = JS_KERNEL; // no SIMD (or no wasm): validation fails, keep the JS loop
    }
  }
  return kernel;
}

/** For tests and the bench: both kernels, regardless of the environment. */
export function jsF32AddKernel(): F32AddKernel {
  return JS_KERNEL;
}
