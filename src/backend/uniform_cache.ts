/**
 * Uniform buffers kept by content. tfjs writes every dispatch's uniforms
 * (shapes, strides, sizes, program constants) into a pooled buffer it takes
 * back after the submit; a model runs the same programs on the same shapes
 * every inference, so the same contents recur. A buffer written once for a
 * content and never written again can serve every later dispatch with that
 * content: no queue write, and stable buffers for the bind group cache.
 *
 * Contents are found by a hash of their types and values' bits and then
 * compared exactly (NaN, -0 and each value's type included); no strings are
 * built per dispatch.
 */

/** One uniform field as tfjs describes it. */
export interface UniformField {
  type: string;
  data: ArrayLike<number>;
}

/** Distinct contents kept at most; past it new contents are written per dispatch as tfjs does. */
export const MAX_KEPT_UNIFORMS = 2048;

interface Kept<T> {
  /** Per field: its type's first letter's code and its length, then its values. */
  content: Float64Array;
  value: T;
}

const bits = new Float64Array(1);
const words = new Uint32Array(bits.buffer);

/** The content of `fields` flattened (type codes, lengths, values) and its hash. */
function contentOf(fields: readonly UniformField[]): { content: Float64Array; hash: number } {
  let length = 0;
  for (const field of fields) length += 2 + field.data.length;
  const content = new Float64Array(length);
  let hash = 2166136261;
  let at = 0;
  const mix = (v: number) => {
    content[at++] = v;
    bits[0] = v;
    hash = Math.imul(hash ^ words[0], 16777619);
    hash = Math.imul(hash ^ words[1], 16777619);
  };
  for (const field of fields) {
    mix(field.type.charCodeAt(0));
    mix(field.data.length);
    for (let i = 0; i < field.data.length; i++) mix(field.data[i]);
  }
  return { content, hash };
}

const sameContent = (a: Float64Array, b: Float64Array) => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
};

export class UniformStore<T> {
  private readonly byHash = new Map<number, Kept<T>[]>();
  size = 0;

  /** The value kept for this content, else `make()`'s, kept while `keep(value)` says so and there is room. */
  get(fields: readonly UniformField[], make: () => T, keep: (value: T) => boolean): T {
    const { content, hash } = contentOf(fields);
    const bucket = this.byHash.get(hash);
    if (bucket != null) {
      for (const kept of bucket) if (sameContent(kept.content, content)) return kept.value;
    }
    const value = make();
    if (this.size < MAX_KEPT_UNIFORMS && keep(value)) {
      if (bucket != null) bucket.push({ content, value });
      else this.byHash.set(hash, [{ content, value }]);
      this.size++;
    }
    return value;
  }

  clear(): void {
    this.byHash.clear();
    this.size = 0;
  }
}
