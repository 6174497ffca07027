/**
 * An index over a GraphDef's top-level nodes: lookup by name, consumers of
 * every node (control edges included), and the tensors that must stay
 * materialized (signature outputs and outputs the caller asks for).
 * Validates the JSON on the way and names the offending node on error.
 */

import { GraphJson, NodeJson, parseTensorName } from './model_json';

export interface Consumer {
  node: NodeJson;
  /** Position in the consumer's `input` list. */
  inputIndex: number;
  /** Which output of the producer it reads. */
  output: number;
  control: boolean;
}

export class GraphIndex {
  readonly nodes: NodeJson[];
  private readonly byName = new Map<string, NodeJson>();
  private readonly consumerMap = new Map<string, Consumer[]>();
  private readonly order = new Map<string, number>();
  /** Node names whose outputs the caller reads (must not be folded away). */
  readonly kept: Set<string>;

  constructor(graph: GraphJson, keptNodes: Iterable<string> = []) {
    if (graph == null || typeof graph !== 'object' || !Array.isArray(graph.node)) {
      throw new Error('graph rewrite: modelTopology.node must be an array of nodes');
    }
    this.nodes = graph.node;
    this.nodes.forEach((node, i) => {
      if (node == null || typeof node.name !== 'string' || node.name === '') {
        throw new Error(`graph rewrite: node #${i} has no name`);
      }
      if (typeof node.op !== 'string' || node.op === '') {
        throw new Error(`graph rewrite: node '${node.name}' has no op`);
      }
      if (
        node.input != null &&
        !(Array.isArray(node.input) && node.input.every((s) => typeof s === 'string'))
      ) {
        throw new Error(`graph rewrite: node '${node.name}' has a malformed input list`);
      }
      if (node.attr != null && typeof node.attr !== 'object') {
        throw new Error(`graph rewrite: node '${node.name}' has malformed attributes`);
      }
      if (this.byName.has(node.name)) {
        throw new Error(`graph rewrite: duplicate node name '${node.name}'`);
      }
      this.byName.set(node.name, node);
      this.order.set(node.name, i);
      this.consumerMap.set(node.name, []);
    });
    for (const node of this.nodes) {
      (node.input ?? []).forEach((input, inputIndex) => {
        const ref = parseTensorName(input);
        const list = this.consumerMap.get(ref.node);
        if (list == null) {
          throw new Error(
            `graph rewrite: node '${node.name}' reads '${input}', which is not a node of the graph`,
          );
        }
        list.push({ node, inputIndex, output: ref.output, control: ref.control });
      });
    }
    this.kept = new Set([...keptNodes].map((name) => parseTensorName(name).node));
  }

  get(name: string): NodeJson | undefined {
    return this.byName.get(name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** Position of the node in the JSON (stable ordering for reports). */
  position(name: string): number {
    return this.order.get(name) ?? -1;
  }

  /** Every edge out of `name`, data and control. */
  consumers(name: string): Consumer[] {
    return this.consumerMap.get(name) ?? [];
  }

  /** The node behind input `index` of `node` (data inputs only), or undefined. */
  inputNode(node: NodeJson, index: number): NodeJson | undefined {
    const input = node.input?.[index];
    if (input == null || input.startsWith('^')) return undefined;
    return this.byName.get(parseTensorName(input).node);
  }

  /** Data inputs of a node (control inputs dropped). */
  dataInputs(node: NodeJson): string[] {
    return (node.input ?? []).filter((s) => !s.startsWith('^'));
  }

  isKept(name: string): boolean {
    return this.kept.has(name);
  }
}

/** Node names of a tfjs signature's outputs ({outputs: {key: {name: 'node:0'}}}). */
export function signatureOutputNodes(signature: unknown): string[] {
  const outputs = (signature as { outputs?: Record<string, { name?: string }> } | undefined)?.outputs;
  if (outputs == null || typeof outputs !== 'object') return [];
  return Object.entries(outputs).map(([key, value]) => parseTensorName(value?.name ?? key).node);
}

/** Input tensor names of a tfjs signature, e.g. ['input']. */
export function signatureInputNodes(signature: unknown): string[] {
  const inputs = (signature as { inputs?: Record<string, { name?: string }> } | undefined)?.inputs;
  if (inputs == null || typeof inputs !== 'object') return [];
  return Object.entries(inputs).map(([key, value]) => parseTensorName(value?.name ?? key).node);
}
