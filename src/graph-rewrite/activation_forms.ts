/**
 * Recognizing an activation written as a small subgraph of elementwise ops
 * on one tensor x: relu6 as `ClipByValue(x, 0, 6)` or `Minimum(Maximum(x,
 * 0), 6)`, relu as `Maximum(x, 0)`, swish `x * Sigmoid(x)`, hard-swish
 * `x * Relu6(x + 3) / 6` (any association of the product, `* (1/6)` or
 * `/ 6`, any relu6 form). The region is matched structurally (an expression
 * tree over x and scalar constants), never by sampling values.
 */

import { FusedActivation } from '../kernels/types';
import { GraphIndex } from './graph_index';
import { NodeJson, parseTensorName } from './model_json';
import { WeightTable } from './weights';

const REGION_OPS = new Set([
  'Add',
  'AddV2',
  'Sub',
  'Mul',
  'RealDiv',
  'Relu',
  'Relu6',
  'ClipByValue',
  'Minimum',
  'Maximum',
  'Sigmoid',
]);

/** Most nodes an activation region may have (hard-swish has 4–6). */
const MAX_REGION = 8;

type Expr = { k: 'x' } | { k: 'c'; v: number } | { k: 'op'; op: string; args: Expr[] };

export interface ActivationRegion {
  activation: FusedActivation;
  /** The region's nodes in graph order; `exit` is the last. */
  nodes: NodeJson[];
  exit: NodeJson;
}

/** The value of a constant with exactly one element, or undefined. */
export function scalarConst(graph: GraphIndex, weights: WeightTable, tensor: string): number | undefined {
  const ref = parseTensorName(tensor);
  const node = graph.get(ref.node);
  if (node?.op !== 'Const' || ref.output !== 0 || !weights.has(node.name)) return undefined;
  const value = weights.read(node.name);
  return value.values.length === 1 ? Number(value.values[0]) : undefined;
}

const isC = (e: Expr, v: number) => e.k === 'c' && e.v === v;
const isX = (e: Expr) => e.k === 'x';
/** The operands when e is one of `ops`, else undefined. */
const argsOf = (e: Expr, ...ops: string[]): Expr[] | undefined =>
  e.k === 'op' && ops.includes(e.op) ? e.args : undefined;

/** [a, b] of a commutative binary op when one side is the constant v. */
function otherThan(e: Expr, v: number): Expr | undefined {
  if (e.k !== 'op' || e.args.length !== 2) return undefined;
  if (isC(e.args[1], v)) return e.args[0];
  if (isC(e.args[0], v)) return e.args[1];
  return undefined;
}

function reluOf(e: Expr): Expr | undefined {
  const relu = argsOf(e, 'Relu');
  if (relu != null) return relu[0];
  return argsOf(e, 'Maximum') != null ? otherThan(e, 0) : undefined;
}

/** The argument of a relu6 written any common way, or undefined. */
export function relu6Of(e: Expr): Expr | undefined {
  const relu6 = argsOf(e, 'Relu6');
  if (relu6 != null) return relu6[0];
  const clip = argsOf(e, 'ClipByValue');
  if (clip != null) return isC(clip[1], 0) && isC(clip[2], 6) ? clip[0] : undefined;
  if (argsOf(e, 'Minimum') != null) {
    const inner = otherThan(e, 6);
    return inner == null ? undefined : reluOf(inner);
  }
  if (argsOf(e, 'Maximum') != null) {
    const inner = otherThan(e, 0);
    return inner != null && argsOf(inner, 'Minimum') != null ? otherThan(inner, 6) : undefined;
  }
  return undefined;
}

/** e as coefficient × product of factors (Mul flattened, division by constants folded). */
function product(e: Expr): { coef: number; factors: Expr[] } {
  if (e.k === 'c') return { coef: e.v, factors: [] };
  const mul = argsOf(e, 'Mul');
  if (mul != null && mul.length === 2) {
    const [a, b] = mul.map(product);
    return { coef: a.coef * b.coef, factors: [...a.factors, ...b.factors] };
  }
  const div = argsOf(e, 'RealDiv');
  if (div != null && div[1].k === 'c') {
    const a = product(div[0]);
    return { coef: a.coef / div[1].v, factors: a.factors };
  }
  return { coef: 1, factors: [e] };
}

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * Math.abs(b);

function isXPlus3(e: Expr): boolean {
  const add = argsOf(e, 'Add', 'AddV2');
  return add != null && ((isX(add[0]) && isC(add[1], 3)) || (isC(add[0], 3) && isX(add[1])));
}

function classify(e: Expr): FusedActivation | undefined {
  const r6 = relu6Of(e);
  if (r6 != null && isX(r6)) return 'relu6';
  const r = reluOf(e);
  if (r != null && isX(r)) return 'relu';
  const sigmoid = argsOf(e, 'Sigmoid');
  if (sigmoid != null && isX(sigmoid[0])) return 'sigmoid';
  const { coef, factors } = product(e);
  if (factors.length !== 2) return undefined;
  const xAt = factors.findIndex(isX);
  if (xAt < 0) return undefined;
  const other = factors[1 - xAt];
  const otherSigmoid = argsOf(other, 'Sigmoid');
  if (otherSigmoid != null && isX(otherSigmoid[0]) && close(coef, 1)) return 'swish';
  const inner = relu6Of(other);
  if (inner != null && isXPlus3(inner) && close(coef, 1 / 6)) return 'hardswish';
  return undefined;
}

/**
 * The activation region reading tensor `x` (a node's output 0): every data
 * consumer of x belongs to it, every inner node's output is read only inside
 * it and is not a kept output, and the region computes a known activation of
 * x. The largest such region (so Minimum(Maximum(x, 0), 6) is one relu6,
 * not a relu followed by an unfusable Minimum), or undefined.
 */
export function matchActivationRegion(
  graph: GraphIndex,
  weights: WeightTable,
  x: string,
): ActivationRegion | undefined {
  const xConsumers = graph.consumers(x);
  if (xConsumers.length === 0 || xConsumers.some((c) => c.control || c.output !== 0)) return undefined;
  // Grow the candidate set: region ops whose inputs are x, region nodes or scalar constants.
  const region: NodeJson[] = [];
  const inRegion = new Set<string>();
  const operandOk = (input: string) => {
    const ref = parseTensorName(input);
    if (ref.control) return true;
    if (ref.output !== 0) return false;
    return ref.node === x || inRegion.has(ref.node) || scalarConst(graph, weights, input) != null;
  };
  let frontier = [x];
  while (frontier.length > 0 && region.length < MAX_REGION) {
    const next: string[] = [];
    for (const name of frontier) {
      for (const c of graph.consumers(name)) {
        const node = c.node;
        if (c.control || inRegion.has(node.name) || !REGION_OPS.has(node.op)) continue;
        if (!(node.input ?? []).every(operandOk)) continue;
        if (region.length >= MAX_REGION) break;
        region.push(node);
        inRegion.add(node.name);
        next.push(node.name);
      }
    }
    frontier = next;
  }
  for (const exit of [...region].reverse()) {
    const members = ancestorsWithin(graph, exit, inRegion, x);
    if (members == null) continue;
    if (!xConsumers.every((c) => members.has(c.node.name))) continue;
    const closed = [...members].every(
      (name) =>
        name === exit.name ||
        (!graph.isKept(name) && graph.consumers(name).every((c) => !c.control && members.has(c.node.name))),
    );
    if (!closed) continue;
    const expr = buildExpr(graph, weights, exit, x, members);
    const activation = expr == null ? undefined : classify(expr);
    if (activation != null) {
      const nodes = region.filter((n) => members.has(n.name));
      nodes.sort((a, b) => graph.position(a.name) - graph.position(b.name));
      return { activation, nodes, exit };
    }
  }
  return undefined;
}

/** Region nodes `exit` depends on (itself included), or null if it reads outside x/region/constants. */
function ancestorsWithin(
  graph: GraphIndex,
  exit: NodeJson,
  inRegion: Set<string>,
  x: string,
): Set<string> | null {
  const members = new Set<string>();
  const stack = [exit];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (members.has(node.name)) continue;
    members.add(node.name);
    for (const input of graph.dataInputs(node)) {
      const producer = parseTensorName(input).node;
      if (producer === x) continue;
      if (inRegion.has(producer)) stack.push(graph.get(producer)!);
      else if (graph.get(producer)?.op !== 'Const') return null;
    }
  }
  return members;
}

function buildExpr(
  graph: GraphIndex,
  weights: WeightTable,
  node: NodeJson,
  x: string,
  members: Set<string>,
): Expr | undefined {
  const args: Expr[] = [];
  for (const input of graph.dataInputs(node)) {
    const producer = parseTensorName(input).node;
    if (producer === x) {
      args.push({ k: 'x' });
    } else if (members.has(producer)) {
      const inner = buildExpr(graph, weights, graph.get(producer)!, x, members);
      if (inner == null) return undefined;
      args.push(inner);
    } else {
      const v = scalarConst(graph, weights, input);
      if (v == null) return undefined;
      args.push({ k: 'c', v });
    }
  }
  return { k: 'op', op: node.op, args };
}
