/**
 * The cost model's predicted speedups for measured benchmark rows: the
 * blocks benchmark's variants and the planner benchmark's sites (at their
 * tiles). Shared by model_fit (how well a profile predicts) and
 * calibration_fit (which calibration predicts best).
 */

import { defaultDwPwTile } from '../../src/kernels/depthwise_pointwise_tile';
import { defaultIrTile } from '../../src/kernels/inverted_residual_tile';
import { defaultPwDwTile } from '../../src/kernels/pointwise_depthwise_tile';
import { DwPwProblem, DwPwTile, IrProblem, IrTile, PwDwProblem, PwDwTile } from '../../src/kernels/types';
import { DeviceProfile } from '../../src/planner/device_profile';
import { dwPwFusedCost, irFusedCost, pwDwFusedCost } from '../../src/planner/fused_costs';
import { predictMs } from '../../src/planner/kernel_cost';
import {
  dwLayerOfDwPw,
  dwLayerOfIr,
  dwLayerOfPwDw,
  expandLayerOfIr,
  projectLayerOfIr,
  pwLayerOfDwPw,
  pwLayerOfPwDw,
  pwOutputElements,
} from '../../src/planner/layer_shapes';
import { BlockSiteProblem, dwPwProblemOf, pwDwProblemOf } from '../../src/planner/graph';
import { SitePlan } from '../../src/planner/plan';
import { stockAddCost, stockDepthwiseCost, stockPointwiseCost } from '../../src/planner/stock_costs';

export interface BlockResult {
  block: string;
  batch: number;
  residual: boolean;
  variants: Record<string, { pairedGpuRatio?: { median: number } }>;
}

/** '14²x136->816 s2->224' → the block's problem (3x3 depthwise, SAME padding). */
export function irProblemOfLabel(label: string, batch: number): IrProblem {
  const m = /^(\d+)²x(\d+)->(\d+)( s(\d+))?->(\d+)$/.exec(label);
  if (m == null) throw new Error(`model_fit: cannot read block label '${label}'`);
  const size = Number(m[1]);
  const stride = m[5] != null ? Number(m[5]) : 1;
  const out = Math.ceil(size / stride);
  return {
    batch,
    inHeight: size,
    inWidth: size,
    inChannels: Number(m[2]),
    expandedChannels: Number(m[3]),
    outChannels: Number(m[6]),
    kernelSize: 3,
    stride,
    outHeight: out,
    outWidth: out,
  };
}

/** Predicted ms of each variant the blocks benchmark times. */
export function predictVariants(problem: IrProblem, residual: boolean, profile: DeviceProfile) {
  const limits = profile.limits;
  const expand = expandLayerOfIr(problem);
  const dw = dwLayerOfIr(problem);
  const project = projectLayerOfIr(problem);
  const ms = predictMs;
  const add = residual ? ms(stockAddCost(pwOutputElements(project)), profile) : 0;
  const expandMs = ms(stockPointwiseCost(expand), profile);
  const dwMs = ms(stockDepthwiseCost(dw), profile);
  const projectMs = ms(stockPointwiseCost(project), profile);
  const dwPw = dwPwProblemOf(dw, project);
  const pwDw = pwDwProblemOf(expand, dw);
  return {
    stock: expandMs + dwMs + projectMs + add,
    dwpw: expandMs + ms(dwPwFusedCost(dwPw, defaultDwPwTile(dwPw, limits)), profile) + add,
    pwdw: ms(pwDwFusedCost(pwDw, defaultPwDwTile(pwDw, limits)), profile) + projectMs + add,
    block: ms(irFusedCost(problem, defaultIrTile(problem, limits), residual), profile),
  };
}

export interface PlannerSiteResult {
  id: string;
  kind: SitePlan['kind'];
  problem: SitePlan['problem'];
  tile: DwPwTile | PwDwTile | IrTile;
  measured: { speedup: number };
}

/** Predicted speedup (stock / fused) of one planner-bench site at its tile. */
export function predictSite(site: PlannerSiteResult, profile: DeviceProfile): number {
  const ms = (c: Parameters<typeof predictMs>[0]) => predictMs(c, profile);
  if (site.kind === 'dwpw') {
    const p = site.problem as DwPwProblem;
    const stock = ms(stockDepthwiseCost(dwLayerOfDwPw(p))) + ms(stockPointwiseCost(pwLayerOfDwPw(p)));
    return stock / ms(dwPwFusedCost(p, site.tile as DwPwTile));
  }
  if (site.kind === 'pwdw') {
    const p = site.problem as PwDwProblem;
    const stock = ms(stockPointwiseCost(pwLayerOfPwDw(p))) + ms(stockDepthwiseCost(dwLayerOfPwDw(p)));
    return stock / ms(pwDwFusedCost(p, site.tile as PwDwTile));
  }
  const p = site.problem as BlockSiteProblem;
  const project = projectLayerOfIr(p);
  const stock =
    ms(stockPointwiseCost(expandLayerOfIr(p))) +
    ms(stockDepthwiseCost(dwLayerOfIr(p))) +
    ms(stockPointwiseCost(project)) +
    (p.residual ? ms(stockAddCost(pwOutputElements(project))) : 0);
  return stock / ms(irFusedCost(p, site.tile as IrTile, p.residual));
}
