/**
 * Memoized legality checks. A fused op checks its shapes and attributes, the
 * kernel checks them again (it also guards direct `runKernel` calls), and a
 * graph model calls the same node with the same attributes, weights and
 * (usually) input shape every inference; the checks' results depend on
 * nothing else, so they are computed once per distinct input.
 *
 * Inputs are compared by value, exactly: numbers by `Object.is` (NaN, -0),
 * types (a string never equals a number), arrays against scalars, a missing
 * key against one holding undefined. A bad input therefore never hits the
 * entry of a good one, and a remembered failure throws again on every call.
 */

/**
 * An exact key of a plain value (numbers, strings, booleans, null/undefined,
 * arrays and plain objects of those), or null when the value holds anything
 * else (functions, symbols, ...), which is then not remembered.
 */
export function valueKey(value: unknown): string | null {
  switch (typeof value) {
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 't' : 'f';
    case 'undefined':
      return 'u';
    case 'object': {
      if (value === null) return 'n';
      let key = Array.isArray(value) ? '[' : '{';
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const item = valueKey(value[i]);
          if (item == null) return null;
          key += item + ',';
        }
        return key + ']';
      }
      if (Object.getPrototypeOf(value) !== Object.prototype) return null;
      for (const name in value) {
        const item = valueKey((value as Record<string, unknown>)[name]);
        if (item == null) return null;
        key += JSON.stringify(name) + ':' + item + ',';
      }
      return key + '}';
    }
    default:
      return null;
  }
}

/** What `plainCopy` gives for a value that is not plain data. */
const NOT_PLAIN = Symbol('not plain');

const isPlainObject = (value: object) => Object.getPrototypeOf(value) === Object.prototype;

/** Whether `value` is plain data that can never change: primitives, deeply frozen arrays and objects. */
function immutablePlain(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) {
    const t = typeof value;
    return t !== 'function' && t !== 'symbol' && t !== 'bigint';
  }
  if (!Object.isFrozen(value) || !(Array.isArray(value) || isPlainObject(value))) return false;
  for (const name in value) if (!immutablePlain((value as Record<string, unknown>)[name])) return false;
  return true;
}

/**
 * A deep copy of plain data (as `valueKey` takes), or NOT_PLAIN. Deeply
 * frozen parts (packed layouts, device limits) are kept by reference, so
 * comparing against them is one identity test.
 */
function plainCopy(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) {
    const t = typeof value;
    return t === 'function' || t === 'symbol' || t === 'bigint' ? NOT_PLAIN : value;
  }
  if (immutablePlain(value)) return value;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const item of value) {
      const copy = plainCopy(item);
      if (copy === NOT_PLAIN) return NOT_PLAIN;
      out.push(copy);
    }
    return out;
  }
  if (!isPlainObject(value)) return NOT_PLAIN;
  const out: Record<string, unknown> = {};
  for (const name in value) {
    const copy = plainCopy((value as Record<string, unknown>)[name]);
    if (copy === NOT_PLAIN) return NOT_PLAIN;
    out[name] = copy;
  }
  return out;
}

/**
 * Whether `value` equals the plain data `copy` exactly: the same types,
 * numbers by `Object.is` (NaN and -0 told apart), the same keys (a key that
 * holds undefined differs from a missing one: spreads copy it).
 */
function samePlain(copy: unknown, value: unknown): boolean {
  if (Object.is(copy, value)) return true;
  if (typeof copy !== 'object' || copy === null || typeof value !== 'object' || value === null) return false;
  if (Array.isArray(copy)) {
    if (!Array.isArray(value) || value.length !== copy.length) return false;
    for (let i = 0; i < copy.length; i++) if (!samePlain(copy[i], value[i])) return false;
    return true;
  }
  if (Array.isArray(value) || !isPlainObject(value)) return false;
  const a = copy as Record<string, unknown>;
  const b = value as Record<string, unknown>;
  let keys = 0;
  for (const name in a) {
    if (!samePlain(a[name], b[name]) || !(name in b)) return false;
    keys++;
  }
  for (const name in b) if (--keys < 0 || !(name in a)) return false;
  return keys === 0;
}

interface Entry<T> {
  inputs: unknown;
  value: T;
}

/**
 * Check results remembered per anchor, an object that lives with the model
 * and narrows the search (a packed layout, a filter's shape array): each
 * anchor keeps its last few distinct inputs (shapes, attributes, limits),
 * copied and compared by value, so a changed input is checked afresh and the
 * anchor's identity alone never decides a result. Weakly held: entries go
 * with their anchor.
 */
export class CheckMemo<T> {
  private readonly anchors = new WeakMap<object, Entry<T>[]>();

  constructor(private readonly perAnchor = 8) {}

  get(anchor: object, inputs: unknown, compute: () => T): T {
    let entries = this.anchors.get(anchor);
    if (entries != null) {
      for (const entry of entries) if (samePlain(entry.inputs, inputs)) return entry.value;
    }
    const value = compute();
    const copy = plainCopy(inputs);
    if (copy === NOT_PLAIN) return value;
    if (entries == null) this.anchors.set(anchor, (entries = []));
    if (entries.length >= this.perAnchor) entries.shift();
    entries.push({ inputs: copy, value });
    return value;
  }
}

/**
 * `compute()` remembered in `memo` under `anchor` and `inputs` (computed
 * every time when there is no anchor object). A result's `tile` is frozen:
 * remembered results are shared by every later call.
 */
export function rememberCheck<T extends object>(
  memo: CheckMemo<T>,
  anchor: unknown,
  inputs: unknown,
  compute: () => T,
): T {
  const frozen = () => {
    const checked = compute();
    if ('tile' in checked) Object.freeze(checked.tile);
    return checked;
  };
  return typeof anchor === 'object' && anchor !== null ? memo.get(anchor, inputs, frozen) : frozen();
}
