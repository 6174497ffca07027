/**
 * A fusion plan as a text table for people: one row per site with its bytes
 * and predicted time unfused and fused, the chosen tile, the decision and
 * why, then the runner-up tiles. Depends only on the plan, so it is as
 * deterministic as the plan.
 */

import { formatBytes, formatMs } from './format';
import { FusionPlan, SitePlan, SiteTile } from './plan';

export function formatTile(tile: SiteTile): string {
  if ('filters' in tile && 'chunk' in tile) {
    const split = (tile.splits ?? 1) > 1 ? ` s${tile.splits}${tile.reduce === 'pass' ? ' pass' : ''}` : '';
    return `${tile.tileH}x${tile.tileW} f${tile.filters} ch${tile.chunk} t${tile.threadPixels}x${tile.threadFilters}${split}`;
  }
  if ('pixels' in tile) {
    // Channel splits inside (s) and across (w) workgroups, thread order and depthwise run when not the defaults.
    const extras = [
      (tile.channelSplits ?? 1) > 1 ? `s${tile.channelSplits}` : '',
      (tile.workgroupSplits ?? 1) > 1 ? `w${tile.workgroupSplits}` : '',
      tile.threadOrder != null && tile.threadOrder !== 'pixels' ? tile.threadOrder : '',
      tile.depthwiseRun != null ? `run${tile.depthwiseRun}` : '',
    ].filter((e) => e !== '');
    return [
      `px${tile.pixels} f${tile.filters} kc${tile.channelChunk} t${tile.threadPixels}x${tile.threadFilters}`,
      ...extras,
    ].join(' ');
  }
  return `${tile.tileH}x${tile.tileW} c${tile.channels} pos${tile.threadPositions} wg${tile.workgroupSize}`;
}

interface Column {
  title: string;
  value: (site: SitePlan) => string;
  alignRight?: boolean;
}

const COLUMNS: Column[] = [
  { title: 'site', value: (s) => s.id },
  { title: 'unfused', value: (s) => (s.unfused ? formatBytes(s.unfused.bytes) : '-'), alignRight: true },
  { title: 'fused', value: (s) => (s.fused ? formatBytes(s.fused.bytes) : '-'), alignRight: true },
  { title: 'unfused ms', value: (s) => formatMs(s.unfused?.ms), alignRight: true },
  { title: 'fused ms', value: (s) => formatMs(s.fused?.ms), alignRight: true },
  { title: 'saving ms', value: (s) => formatMs(s.savingMs), alignRight: true },
  { title: 'tile', value: (s) => (s.fused ? formatTile(s.fused.tile) : '-') },
  { title: 'decision', value: (s) => s.decision },
  { title: 'reason', value: (s) => s.reason },
];

function header(plan: FusionPlan): string[] {
  const p = plan.profile;
  const t = plan.totals;
  const fused = t.fusedSites.dwpw + t.fusedSites.pwdw + t.fusedSites.pwdwpw;
  return [
    `Fusion plan v${plan.version}, policy '${plan.policy}', device '${p.name}': ` +
      `${p.memoryBandwidthGBps} GB/s, ${p.flopRateGflops} GFLOP/s, ${p.dispatchOverheadMs} ms/dispatch, ` +
      `${p.minWorkgroups} workgroups to fill, ${formatBytes(p.limits.maxComputeWorkgroupStorageSize)} ` +
      `workgroup storage, ${p.limits.maxComputeInvocationsPerWorkgroup} invocations`,
    `${plan.sites.length} sites, ${fused} fused (dwpw ${t.fusedSites.dwpw}, pwdw ${t.fusedSites.pwdw}, ` +
      `pwdwpw ${t.fusedSites.pwdwpw}); dw+pw layers ${formatMs(t.unfusedMs)} ms -> ${formatMs(t.plannedMs)} ms, ` +
      `${formatBytes(t.unfusedBytes)} -> ${formatBytes(t.plannedBytes)}, ` +
      `${t.unfusedDispatches} -> ${t.plannedDispatches} dispatches`,
  ];
}

export function explain(plan: FusionPlan): string {
  const cells = plan.sites.map((site) => COLUMNS.map((c) => c.value(site)));
  const widths = COLUMNS.map((c, i) => Math.max(c.title.length, ...cells.map((row) => row[i].length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (COLUMNS[i].alignRight ? v.padStart(widths[i]) : v.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  const lines = [...header(plan), '', line(COLUMNS.map((c) => c.title))];
  plan.sites.forEach((site, i) => {
    lines.push(line(cells[i]));
    const others = site.tileCandidates.slice(1);
    if (others.length > 0) {
      const list = others.map((c) => `${formatTile(c.tile)} ${formatMs(c.ms)} ms`).join('; ');
      lines.push(`    runners-up: ${list}`);
    }
  });
  return lines.join('\n') + '\n';
}
