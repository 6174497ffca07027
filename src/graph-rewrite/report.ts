/**
 * The fusion report: every candidate site of the model with its decision
 * and the reason, the counts, what was replaced, and the planner's plan.
 * Plain JSON; `explainFusion(report)` renders it for people.
 */

import { explain } from '../planner';
import { IrTile } from '../kernels/types';
import { GraphFusionPlan } from './decide';
import { Tile } from './legality';
import { SiteKind } from './match';

export interface SiteReport {
  id: string;
  kind: SiteKind;
  /** The convolution nodes of the site, in order. */
  convs: string[];
  /** Every node the fused node replaces (dw/pw sites), last = the fused node's name. */
  nodes: string[];
  /** The fused node's name (the site's last node). */
  output?: string;
  /** Structurally fusable and supported by the fused kernel on the planned device. */
  legal: boolean;
  decision: 'fused' | 'unfused';
  reason: string;
  /** What was folded into the stages (BatchNorm, bias, activation forms, Pad). */
  folds: string[];
  /** Site input and output shapes used for planning. */
  inShape?: number[];
  outShape?: number[];
  tile?: Tile | Partial<IrTile>;
  /** A PW→DW→PW block that includes the residual Add. */
  residual?: boolean;
  predicted?: { unfusedMs: number; fusedMs: number; savingMs: number };
}

export interface KindCounts {
  found: number;
  legal: number;
  fused: number;
}

export interface FusionReport {
  policy: 'auto' | 'all' | 'none' | 'saved plan';
  /** Name of the device profile planned for. */
  profile: string;
  /** Concrete input shapes planned for, by input node. */
  inputShapes: Record<string, number[]>;
  counts: Record<SiteKind, KindCounts>;
  sites: SiteReport[];
  /** Removed node → the fused node that now computes past it. */
  replaced: Record<string, string>;
  addedWeights: string[];
  removedWeights: string[];
  warnings: string[];
  /** The planner's plan (policy 'auto' / 'all'), or the saved plan used. */
  plan?: GraphFusionPlan;
}

/** The report as text: counts, one line per site, then the planner's table. */
export function explainFusion(report: FusionReport): string {
  const lines: string[] = [];
  const c = report.counts;
  lines.push(
    `Graph fusion, policy '${report.policy}', device '${report.profile}', inputs ` +
      Object.entries(report.inputShapes)
        .map(([name, shape]) => `${name} [${shape.join(',')}]`)
        .join(', '),
  );
  lines.push(
    `DW->PW: ${c.dwpw.found} found, ${c.dwpw.legal} legal, ${c.dwpw.fused} fused; ` +
      `PW->DW: ${c.pwdw.found} found, ${c.pwdw.legal} legal, ${c.pwdw.fused} fused; ` +
      `PW->DW->PW blocks: ${c.pwdwpw.found} found, ${c.pwdwpw.legal} legal, ${c.pwdwpw.fused} fused`,
  );
  for (const w of report.warnings) lines.push(`warning: ${w}`);
  lines.push('');
  for (const site of report.sites) {
    const saving = site.predicted ? ` saving ${site.predicted.savingMs.toFixed(4)} ms` : '';
    lines.push(`${site.decision === 'fused' ? 'FUSED  ' : 'unfused'} ${site.id}${saving}`);
    lines.push(`        ${site.reason}`);
    for (const fold of site.folds) lines.push(`        fold: ${fold}`);
  }
  const prefix = commonScope(report.sites.flatMap((site) => site.nodes));
  const short = (text: string) => (prefix === '' ? text : text.split(prefix).join('…/'));
  if (report.plan != null) {
    // Shorten the ids before the table is laid out, so its columns fit them.
    const plan = report.plan;
    const sites = plan.sites.map((site) => ({ ...site, id: short(site.id), reason: short(site.reason) }));
    lines.push('', explain({ ...plan, sites }));
    const fusedBlocks = (plan.blocks ?? []).filter((b) => b.decision === 'fused').length;
    if (fusedBlocks > 0) {
      lines.push(
        `${fusedBlocks} PW->DW->PW blocks fused as FusedInvertedResidual (each in place of its pairs)`,
      );
    }
  }
  const text = short(lines.join('\n') + '\n');
  return prefix === '' ? text : `(node names below start with ${prefix})\n${text}`;
}

/**
 * Converted models name nodes by long scope paths shared by every node
 * (`StatefulPartitionedCall/.../MobilenetV2/`); the text shows that common
 * scope once and `…/` in its place. '' when there is no long common scope.
 */
function commonScope(names: string[]): string {
  if (names.length < 2) return '';
  let prefix = names[0].slice(0, names[0].lastIndexOf('/') + 1);
  for (const name of names) {
    while (prefix !== '' && !name.startsWith(prefix)) {
      prefix = prefix.slice(0, prefix.lastIndexOf('/', prefix.length - 2) + 1);
    }
  }
  return prefix.length < 16 ? '' : prefix;
}
