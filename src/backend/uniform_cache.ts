/**
 * Uniform buffers kept by content. tfjs writes every dispatch's uniforms
 * (shapes, strides, sizes, program constants) into a pooled buffer it takes
 * back after the submit; a model runs the same programs on the same shapes
 * every inference, so the same contents recur. A buffer written once for a
 * content and never written again can serve every later dispatch with that
 * content: no queue write, and stable buffers for the bind group cache.
 */

/** One uniform field as tfjs describes it. */
export interface UniformField {
  type: string;
  data: ArrayLike<number>;
}

/** Distinct contents kept at most; past it new contents are written per dispatch as tfjs does. */
export const MAX_KEPT_UNIFORMS = 2048;

/** The exact content of a program's uniforms as a string (types and values). */
export function uniformKey(fields: readonly UniformField[]): string {
  let key = '';
  for (const field of fields) {
    key += field.type[0];
    for (let i = 0; i < field.data.length; i++) {
      const v = field.data[i];
      key += Object.is(v, -0) ? '-0,' : `${v},`;
    }
    key += ';';
  }
  return key;
}
