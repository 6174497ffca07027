/**
 * The parts of a converted model's JSON (a TensorFlow GraphDef in tfjs's
 * JSON encoding) the graph rewrite reads and writes, plus attribute helpers.
 *
 * Encoding reminders (tfjs-converter's operation_mapper): strings are base64
 * (`{s: 'U0FNRQ=='}`) or char-code arrays; ints are decimal strings or
 * numbers; floats are numbers (`{f: 0.2}`; a string float would be parsed
 * with parseInt, so never write one); `{list: {}}` reads as undefined.
 */

export interface TensorShapeJson {
  dim?: Array<{ size?: string | number }>;
  unknownRank?: boolean;
}

export interface AttrValueJson {
  s?: string | number[];
  i?: string | number;
  f?: number | string;
  b?: boolean;
  type?: string | number;
  shape?: TensorShapeJson;
  tensor?: { dtype?: string; tensorShape?: TensorShapeJson };
  list?: {
    s?: Array<string | number[]>;
    i?: Array<string | number>;
    f?: Array<number | string>;
    b?: boolean[];
    type?: Array<string | number>;
    shape?: TensorShapeJson[];
  };
  func?: unknown;
}

export interface NodeJson {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, AttrValueJson>;
  device?: string;
}

export interface GraphJson {
  node: NodeJson[];
  library?: unknown;
  versions?: Record<string, unknown>;
}

export interface WeightSpecJson {
  name: string;
  shape: number[];
  dtype: string;
  group?: string;
  quantization?: { dtype: string; min?: number; scale?: number };
}

// ---------------------------------------------------------------------------
// Base64 without Buffer/atob dependencies (works in Node and browsers).

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

export function encodeBase64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const [a, b, c] = [bytes[i], bytes[i + 1], bytes[i + 2]];
    const n = (a << 16) | ((b ?? 0) << 8) | (c ?? 0);
    out += B64[(n >> 18) & 63] + B64[(n >> 12) & 63];
    out += b == null ? '=' : B64[(n >> 6) & 63];
    out += c == null ? '=' : B64[n & 63];
  }
  return out;
}

export function decodeBase64(text: string): string {
  const clean = text.replace(/[^A-Za-z0-9+/]/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < clean.length; i += 4) {
    const chunk = [0, 1, 2, 3].map((k) => (i + k < clean.length ? B64.indexOf(clean[i + k]) : -1));
    const n =
      ((chunk[0] << 18) | (chunk[1] << 12) | (Math.max(chunk[2], 0) << 6) | Math.max(chunk[3], 0)) >>> 0;
    bytes.push((n >> 16) & 255);
    if (chunk[2] >= 0) bytes.push((n >> 8) & 255);
    if (chunk[3] >= 0) bytes.push(n & 255);
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/** A string attribute as tfjs reads it, with its case kept. */
function decodeString(value: string | number[]): string {
  return Array.isArray(value) ? String.fromCharCode(...value) : decodeBase64(value);
}

export function stringAttr(node: NodeJson, name: string): string | undefined {
  const value = node.attr?.[name]?.s;
  return value == null ? undefined : decodeString(value);
}

export function stringListAttr(node: NodeJson, name: string): string[] {
  return (node.attr?.[name]?.list?.s ?? []).map(decodeString);
}

export function intListAttr(node: NodeJson, name: string): number[] | undefined {
  const list = node.attr?.[name]?.list;
  if (list == null) return undefined;
  return (list.i ?? []).map((v) => Number(v));
}

export function numberAttr(node: NodeJson, name: string): number | undefined {
  const attr = node.attr?.[name];
  if (attr == null) return undefined;
  const value = attr.i ?? attr.f;
  return value == null ? undefined : Number(value);
}

export function boolAttr(node: NodeJson, name: string): boolean | undefined {
  return node.attr?.[name]?.b;
}

export function shapeOfJson(shape: TensorShapeJson | undefined): number[] | undefined {
  if (shape == null || shape.unknownRank) return undefined;
  return (shape.dim ?? []).map((d) => (d.size == null ? -1 : Number(d.size)));
}

// Attribute encoders for the nodes the rewrite writes.
export const attrString = (value: string): AttrValueJson => ({ s: encodeBase64(value) });
export const attrStringList = (values: string[]): AttrValueJson => ({
  list: { s: values.map(encodeBase64) },
});
export const attrInt = (value: number): AttrValueJson => ({ i: String(value) });
export const attrIntList = (values: number[]): AttrValueJson => ({ list: { i: values.map(String) } });
export const attrFloat = (value: number): AttrValueJson => ({ f: value });

// ---------------------------------------------------------------------------
// Tensor names: 'node', 'node:1', '^node' (control input).

export interface TensorRef {
  node: string;
  output: number;
  control: boolean;
}

export function parseTensorName(input: string): TensorRef {
  const control = input.startsWith('^');
  const body = control ? input.slice(1) : input;
  const match = /^(.*):(\d+)$/.exec(body);
  return match != null
    ? { node: match[1], output: Number(match[2]), control }
    : { node: body, output: 0, control };
}

/** 'node' for output 0, else 'node:k' (the key the shape map uses). */
export function tensorKey(ref: { node: string; output: number }): string {
  return ref.output === 0 ? ref.node : `${ref.node}:${ref.output}`;
}
