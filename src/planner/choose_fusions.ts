/**
 * Choosing which fusions to apply: a set of candidates no two of which share
 * a layer, best by the objective. Candidates are contiguous runs of a chain
 * (see graph.ts), so per chain this is weighted interval scheduling, solved
 * exactly by dynamic programming from the chain's end. A brute-force solver
 * over all subsets is kept to test it against.
 */

export interface FusionOption {
  id: string;
  /** Layer ids, in chain order. */
  nodes: string[];
  /** Predicted saving in ms (may be ≤ 0 under the 'max-layers' objective). */
  saving: number;
}

/**
 * 'max-saving': the largest total saving (policy 'auto').
 * 'max-layers': the most layers inside fusions (a whole block before a pair
 * inside it), then the largest saving (policy 'all': fuse everything that
 * can be fused, whatever the cost model says).
 */
export type FusionObjective = 'max-saving' | 'max-layers';

export interface Selection {
  /** Chosen option ids, sorted. */
  chosen: string[];
  count: number;
  /** Layers inside the chosen fusions. */
  layers: number;
  saving: number;
}

interface Score {
  count: number;
  layers: number;
  saving: number;
}

function beats(a: Score, b: Score, objective: FusionObjective): boolean {
  if (objective === 'max-layers' && a.layers !== b.layers) return a.layers > b.layers;
  return a.saving > b.saving;
}

export function chooseFusionsDp(
  chains: string[][],
  options: FusionOption[],
  objective: FusionObjective,
): Selection {
  const chainOf = new Map<string, { chain: number; position: number }>();
  chains.forEach((chain, c) => chain.forEach((id, position) => chainOf.set(id, { chain: c, position })));
  // Options grouped by chain and start position; ids sorted so ties resolve the same way every time.
  const starting = chains.map((chain) => chain.map((): FusionOption[] => []));
  for (const option of [...options].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    const start = chainOf.get(option.nodes[0]);
    const contiguous =
      start != null &&
      option.nodes.every((id, i) => {
        const at = chainOf.get(id);
        return at != null && at.chain === start.chain && at.position === start.position + i;
      });
    if (!contiguous) {
      throw new Error(`fusion option '${option.id}' is not a contiguous run of one chain`);
    }
    starting[start.chain][start.position].push(option);
  }
  const chosen: string[] = [];
  const total: Score = { count: 0, layers: 0, saving: 0 };
  chains.forEach((chain, c) => {
    // best[i]: the best score using positions i.. of the chain; pick[i]: the option taken at i.
    const best: Score[] = new Array(chain.length + 1);
    const pick: (FusionOption | undefined)[] = new Array(chain.length).fill(undefined);
    best[chain.length] = { count: 0, layers: 0, saving: 0 };
    for (let i = chain.length - 1; i >= 0; i--) {
      best[i] = best[i + 1]; // leave layer i unfused
      for (const option of starting[c][i]) {
        const rest = best[i + option.nodes.length];
        const score = {
          count: rest.count + 1,
          layers: rest.layers + option.nodes.length,
          saving: rest.saving + option.saving,
        };
        if (beats(score, best[i], objective)) {
          best[i] = score;
          pick[i] = option;
        }
      }
    }
    for (let i = 0; i < chain.length; ) {
      const option = pick[i];
      if (option == null) {
        i++;
        continue;
      }
      chosen.push(option.id);
      i += option.nodes.length;
    }
    total.count += best[0].count;
    total.layers += best[0].layers;
    total.saving += best[0].saving;
  });
  return { chosen: chosen.sort(), ...total };
}

const BRUTE_FORCE_LIMIT = 20;

/** Tries every subset of pairwise disjoint options; for tests and tiny graphs only. */
export function chooseFusionsBruteForce(options: FusionOption[], objective: FusionObjective): Selection {
  if (options.length > BRUTE_FORCE_LIMIT) {
    throw new Error(`brute force over ${options.length} options is too slow (limit ${BRUTE_FORCE_LIMIT})`);
  }
  let best: Selection = { chosen: [], count: 0, layers: 0, saving: 0 };
  const used = new Set<string>();
  const taken: FusionOption[] = [];
  const visit = (index: number) => {
    if (index === options.length) {
      const score = {
        count: taken.length,
        layers: taken.reduce((s, o) => s + o.nodes.length, 0),
        saving: taken.reduce((s, o) => s + o.saving, 0),
      };
      if (beats(score, best, objective)) best = { chosen: taken.map((o) => o.id).sort(), ...score };
      return;
    }
    visit(index + 1);
    const option = options[index];
    if (option.nodes.some((id) => used.has(id))) return;
    option.nodes.forEach((id) => used.add(id));
    taken.push(option);
    visit(index + 1);
    taken.pop();
    option.nodes.forEach((id) => used.delete(id));
  };
  visit(0);
  return best;
}
