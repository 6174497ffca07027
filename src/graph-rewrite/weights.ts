/**
 * The weights of a model as the rewrite sees them: byte ranges per weight
 * spec (in the order of the manifest), decoding of constant values
 * (dequantizing uint8/uint16/float16 like tfjs does), and rebuilding the
 * spec list and weight buffer after the rewrite dropped and added constants.
 * Pure: no tensors, no backend.
 */

import { WeightSpecJson } from './model_json';

const VALUE_BYTES: Record<string, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  complex64: 8,
  uint8: 1,
  uint16: 2,
  float16: 2,
};

export interface ConstValue {
  shape: number[];
  dtype: string;
  values: Float32Array | Int32Array | Uint8Array;
}

/** A new float32 constant the rewrite adds. */
export interface NewWeight {
  name: string;
  shape: number[];
  values: Float32Array;
}

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Joins tfjs `WeightData` (one buffer or shards) into one ArrayBuffer. */
export function joinWeightData(data: ArrayBuffer | ArrayBuffer[] | undefined): ArrayBuffer {
  if (data == null) return new ArrayBuffer(0);
  if (!Array.isArray(data)) return data;
  const total = data.reduce((n, b) => n + b.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const b of data) {
    out.set(new Uint8Array(b), offset);
    offset += b.byteLength;
  }
  return out.buffer;
}

function float16ToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (mantissa / 1024);
  if (exponent === 31) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * 2 ** (exponent - 15) * (1 + mantissa / 1024);
}

export class WeightTable {
  private readonly ranges = new Map<string, { spec: WeightSpecJson; offset: number; bytes: number }>();
  private readonly cache = new Map<string, ConstValue>();

  constructor(
    readonly specs: WeightSpecJson[],
    readonly data: ArrayBuffer,
  ) {
    let offset = 0;
    const view = new DataView(data);
    for (const spec of specs) {
      if (spec == null || typeof spec.name !== 'string' || !Array.isArray(spec.shape)) {
        throw new Error(`graph rewrite: malformed weight spec ${JSON.stringify(spec)}`);
      }
      const bytes = this.byteLength(spec, offset, view);
      if (offset + bytes > data.byteLength) {
        throw new Error(
          `graph rewrite: missing weights: '${spec.name}' needs bytes ${offset}..${offset + bytes} ` +
            `but the weight data has ${data.byteLength} bytes`,
        );
      }
      this.ranges.set(spec.name, { spec, offset, bytes });
      offset += bytes;
    }
  }

  private byteLength(spec: WeightSpecJson, offset: number, view: DataView): number {
    const size = sizeOf(spec.shape);
    if (spec.quantization != null) {
      const bytes = VALUE_BYTES[spec.quantization.dtype];
      if (bytes == null) {
        throw new Error(
          `graph rewrite: weight '${spec.name}' has unknown quantization ${spec.quantization.dtype}`,
        );
      }
      return size * bytes;
    }
    if (spec.dtype === 'string') {
      let length = 0;
      for (let i = 0; i < size; i++) {
        if (offset + length + 4 > view.byteLength) {
          throw new Error(`graph rewrite: missing weights: string weight '${spec.name}' is truncated`);
        }
        length += 4 + view.getUint32(offset + length, true);
      }
      return length;
    }
    const bytes = VALUE_BYTES[spec.dtype];
    if (bytes == null)
      throw new Error(`graph rewrite: weight '${spec.name}' has unknown dtype ${spec.dtype}`);
    return size * bytes;
  }

  has(name: string): boolean {
    return this.ranges.has(name);
  }

  spec(name: string): WeightSpecJson | undefined {
    return this.ranges.get(name)?.spec;
  }

  /** Decoded values of a numeric weight (float32 after dequantization, like tfjs). */
  read(name: string): ConstValue {
    const cached = this.cache.get(name);
    if (cached != null) return cached;
    const range = this.ranges.get(name);
    if (range == null) throw new Error(`graph rewrite: no weight data for constant '${name}'`);
    const { spec, offset, bytes } = range;
    const raw = this.data.slice(offset, offset + bytes);
    const size = sizeOf(spec.shape);
    let values: Float32Array | Int32Array | Uint8Array;
    const q = spec.quantization;
    // Plain loops: TypedArray.from with a map function is an order of magnitude slower.
    if (q != null) {
      if (q.dtype === 'float16') {
        const halves = new Uint16Array(raw);
        const floats = new Float32Array(halves.length);
        for (let i = 0; i < halves.length; i++) floats[i] = float16ToFloat32(halves[i]);
        values = floats;
      } else {
        const quantized = q.dtype === 'uint8' ? new Uint8Array(raw) : new Uint16Array(raw);
        const [scale, min] = [q.scale ?? 1, q.min ?? 0];
        if (spec.dtype === 'int32') {
          const ints = new Int32Array(quantized.length);
          for (let i = 0; i < quantized.length; i++) ints[i] = Math.round(quantized[i] * scale + min);
          values = ints;
        } else {
          const floats = new Float32Array(quantized.length);
          for (let i = 0; i < quantized.length; i++) floats[i] = quantized[i] * scale + min;
          values = floats;
        }
      }
    } else if (spec.dtype === 'float32') {
      values = new Float32Array(raw);
    } else if (spec.dtype === 'int32') {
      values = new Int32Array(raw);
    } else if (spec.dtype === 'bool') {
      values = new Uint8Array(raw);
    } else {
      throw new Error(`graph rewrite: cannot read constant '${name}' of dtype ${spec.dtype}`);
    }
    if (values.length !== size) {
      throw new Error(`graph rewrite: weight '${name}' has ${values.length} values, shape needs ${size}`);
    }
    const value = { shape: spec.shape.slice(), dtype: spec.dtype, values };
    this.cache.set(name, value);
    return value;
  }

  /**
   * The manifest and buffer with only the weights in `keep` (original order
   * and bytes, quantization kept), followed by `added` as float32.
   */
  rebuild(
    keep: (name: string) => boolean,
    added: NewWeight[],
  ): { specs: WeightSpecJson[]; data: ArrayBuffer } {
    const kept = this.specs.filter((s) => keep(s.name));
    const total =
      kept.reduce((n, s) => n + this.ranges.get(s.name)!.bytes, 0) +
      added.reduce((n, w) => n + 4 * w.values.length, 0);
    const out = new Uint8Array(total);
    let offset = 0;
    for (const spec of kept) {
      const range = this.ranges.get(spec.name)!;
      out.set(new Uint8Array(this.data, range.offset, range.bytes), offset);
      offset += range.bytes;
    }
    const specs: WeightSpecJson[] = kept.map((s) => ({ ...s }));
    for (const w of added) {
      if (w.values.length !== sizeOf(w.shape)) throw new Error(`graph rewrite: bad new weight '${w.name}'`);
      out.set(new Uint8Array(w.values.buffer, w.values.byteOffset, w.values.byteLength), offset);
      offset += w.values.byteLength;
      specs.push({ name: w.name, shape: w.shape.slice(), dtype: 'float32' });
    }
    return { specs, data: out.buffer };
  }
}
