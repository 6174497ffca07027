/**
 * Bind groups reused across dispatches. tfjs creates a new bind group for
 * every dispatch, and on a fast GPU that call is one of the largest host
 * costs of an inference (about a sixth of `execute()`'s time for a fused
 * MobileNetV2 under Dawn). tfjs's buffer manager hands the same pooled
 * buffers back from one inference to the next, so the same combination of
 * pipeline, buffers, offsets and sizes recurs, and a bind group made for it
 * once is the same bind group again.
 *
 * A key names the pipeline and every entry's buffer (by an id given to each
 * buffer object on first sight), offset and size; entries that are not
 * buffer ranges (texture views) make a bind group uncacheable. A buffer that
 * tfjs destroys is never handed out again, so its keys can no longer match.
 */

/** Most bind groups kept; past it the cache starts afresh. */
const MAX_ENTRIES = 4096;

export class BindGroupCache {
  private readonly ids = new WeakMap<object, number>();
  private nextId = 1;
  private readonly groups = new Map<string, GPUBindGroup>();
  hits = 0;
  misses = 0;

  private idOf(o: object): number {
    let id = this.ids.get(o);
    if (id == null) {
      id = this.nextId++;
      this.ids.set(o, id);
    }
    return id;
  }

  /** The key of a bind group of `pipeline` over `entries`, or null when it cannot be cached. */
  keyOf(pipeline: object, entries: Iterable<GPUBindGroupEntry>): string | null {
    let key = String(this.idOf(pipeline));
    for (const entry of entries) {
      const resource = entry.resource as Partial<GPUBufferBinding>;
      if (resource == null || typeof resource !== 'object' || resource.buffer == null) return null;
      key += `|${entry.binding}:${this.idOf(resource.buffer)}:${resource.offset ?? 0}:${resource.size ?? ''}`;
    }
    return key;
  }

  /** The cached bind group for `key`, else the one `create` makes (then cached). */
  get(key: string | null, create: () => GPUBindGroup): GPUBindGroup {
    if (key == null) return create();
    const cached = this.groups.get(key);
    if (cached != null) {
      this.hits++;
      return cached;
    }
    this.misses++;
    const group = create();
    if (this.groups.size >= MAX_ENTRIES) this.groups.clear();
    this.groups.set(key, group);
    return group;
  }

  clear(): void {
    this.groups.clear();
  }
}
