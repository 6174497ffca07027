/**
 * MobileNetV2 width 1.4 at 224² as a planner graph: the layer shapes of
 * nsfwjs's `mobilenet_v2_mid` (see shared/reference/real-models.md):
 * 17 DW→PW sites, 16 PW→DW sites, 10 residual adds.
 */

import { NhwcShape, PlannerGraph, PlannerNode } from '../../src/planner';

interface Block {
  expanded: number;
  out: number;
  stride: number;
}

/** Blocks 1–16 (block 0 has no expansion): expanded width, output width, DW stride. */
const BLOCKS: Block[] = [
  { expanded: 144, out: 32, stride: 2 },
  { expanded: 192, out: 32, stride: 1 },
  { expanded: 192, out: 48, stride: 2 },
  { expanded: 288, out: 48, stride: 1 },
  { expanded: 288, out: 48, stride: 1 },
  { expanded: 288, out: 88, stride: 2 },
  { expanded: 528, out: 88, stride: 1 },
  { expanded: 528, out: 88, stride: 1 },
  { expanded: 528, out: 88, stride: 1 },
  { expanded: 528, out: 136, stride: 1 },
  { expanded: 816, out: 136, stride: 1 },
  { expanded: 816, out: 136, stride: 1 },
  { expanded: 816, out: 224, stride: 2 },
  { expanded: 1344, out: 224, stride: 1 },
  { expanded: 1344, out: 224, stride: 1 },
  { expanded: 1344, out: 448, stride: 1 },
];

/** TF "SAME": ⌈size / stride⌉. */
const sameOut = (size: number, stride: number) => Math.ceil(size / stride);

export function mobileNetV2Graph(batch: number): PlannerGraph {
  const nodes: PlannerNode[] = [];
  const shape = (size: number, channels: number): NhwcShape => [batch, size, size, channels];
  const add = (node: Omit<PlannerNode, 'consumers'>) => {
    const full: PlannerNode = { ...node, consumers: [] };
    nodes.push(full);
    return full;
  };
  const link = (from: PlannerNode, to: PlannerNode) => from.consumers.push(to.id);

  const stem = add({ id: 'stem', kind: 'other', inShape: [batch, 224, 224, 3], outShape: shape(112, 48) });
  const dw0 = add({
    id: 'b0_dw',
    kind: 'dw',
    inShape: shape(112, 48),
    outShape: shape(112, 48),
    kernelSize: 3,
  });
  const pw0 = add({ id: 'b0_project', kind: 'pw', inShape: shape(112, 48), outShape: shape(112, 24) });
  link(stem, dw0);
  link(dw0, pw0);

  let blockOutput = pw0;
  let size = 112;
  let channels = 24;
  BLOCKS.forEach((block, i) => {
    const b = i + 1;
    const outSize = sameOut(size, block.stride);
    const expand = add({
      id: `b${b}_expand`,
      kind: 'pw',
      inShape: shape(size, channels),
      outShape: shape(size, block.expanded),
    });
    const dw = add({
      id: `b${b}_dw`,
      kind: 'dw',
      inShape: shape(size, block.expanded),
      outShape: shape(outSize, block.expanded),
      kernelSize: 3,
      stride: block.stride,
    });
    const project = add({
      id: `b${b}_project`,
      kind: 'pw',
      inShape: shape(outSize, block.expanded),
      outShape: shape(outSize, block.out),
    });
    link(blockOutput, expand);
    link(expand, dw);
    link(dw, project);
    if (block.stride === 1 && channels === block.out) {
      const residual = add({
        id: `b${b}_add`,
        kind: 'other',
        inShape: shape(outSize, block.out),
        outShape: shape(outSize, block.out),
      });
      link(blockOutput, residual);
      link(project, residual);
      blockOutput = residual;
    } else {
      blockOutput = project;
    }
    size = outSize;
    channels = block.out;
  });

  const head = add({ id: 'head_conv', kind: 'pw', inShape: shape(7, 448), outShape: shape(7, 1792) });
  const pool = add({
    id: 'avg_pool',
    kind: 'other',
    inShape: shape(7, 1792),
    outShape: [batch, 1, 1, 1792],
    isGraphOutput: true,
  });
  link(blockOutput, head);
  link(head, pool);
  return { nodes };
}
