import { CommandFailure } from "../channel/command-dispatcher.js";
import type { GpuSelection } from "../proto/gen/gpunode/v1/gpunode.js";

export interface KnownGpu {
  index: number;
  uuid: string;
  /** The model as the hub sees it (the -gpu-type override included); a selection's model matches it. */
  name: string;
  healthy: boolean;
}

/** "h100" matches "NVIDIA H100 80GB HBM3": the hub's picker compares models the same way. */
export function modelMatches(name: string, model: string): boolean {
  return model.trim() === "" || name.toLowerCase().includes(model.trim().toLowerCase());
}

/**
 * Which rental holds which GPU. Every GPU is held by at most one rental; a claim either takes
 * all the GPUs it asks for or changes nothing. (Mining runs on whatever no rental holds.)
 */
export class GpuAllocation {
  private readonly holders = new Map<number, string>();

  constructor(private readonly inventory: () => KnownGpu[]) {}

  /** Takes the selected GPUs for the rental; a rental that already holds GPUs gets the same ones back. */
  claim(rentalId: string, selection: GpuSelection): number[] {
    const held = this.heldBy(rentalId);
    if (held.length > 0) return held;
    const indices = this.select(selection);
    for (const i of indices) this.holders.set(i, rentalId);
    return indices;
  }

  /** For adoption: the engine says this rental runs on these GPUs. */
  restore(rentalId: string, indices: number[]): void {
    for (const i of indices) {
      const other = this.holders.get(i);
      if (other && other !== rentalId) throw new CommandFailure("gpu_taken", `GPU ${i} is held by rental ${other} and by rental ${rentalId}`);
    }
    for (const i of indices) this.holders.set(i, rentalId);
  }

  release(rentalId: string): number[] {
    const freed = this.heldBy(rentalId);
    for (const i of freed) this.holders.delete(i);
    return freed;
  }

  holderOf(index: number): string | undefined {
    return this.holders.get(index);
  }

  heldBy(rentalId: string): number[] {
    return [...this.holders].filter(([, r]) => r === rentalId).map(([i]) => i).sort((a, b) => a - b);
  }

  /** Healthy GPUs no rental holds. */
  free(): number[] {
    return this.inventory()
      .filter((g) => g.healthy && !this.holders.has(g.index))
      .map((g) => g.index);
  }

  private select(sel: GpuSelection): number[] {
    const gpus = this.inventory();
    if (sel.ids.length > 0 && sel.count > 0 && sel.count !== sel.ids.length) {
      throw new CommandFailure("invalid_argument", `gpus: count ${sel.count} does not match the ${sel.ids.length} GPUs named`);
    }
    if (sel.ids.length > 0) {
      const indices = sel.ids.map((id) => {
        const gpu = gpus.find((g) => String(g.index) === id || g.uuid === id);
        if (!gpu) throw new CommandFailure("unknown_gpu", `no GPU "${id}" on this node (it has ${gpus.map((g) => `${g.index} (${g.uuid})`).join(", ") || "none"})`);
        return gpu;
      });
      if (new Set(indices.map((g) => g.index)).size !== indices.length) throw new CommandFailure("invalid_argument", "gpus: the same GPU is named twice");
      for (const g of indices) {
        if (!modelMatches(g.name, sel.model)) throw new CommandFailure("gpu_model_mismatch", `GPU ${g.index} is a ${g.name}, not a "${sel.model}"`);
        if (!g.healthy) throw new CommandFailure("gpu_unhealthy", `GPU ${g.index} is unhealthy`);
        const holder = this.holders.get(g.index);
        if (holder) throw new CommandFailure("gpu_taken", `GPU ${g.index} is rented by ${holder}`);
      }
      return indices.map((g) => g.index).sort((a, b) => a - b);
    }
    const free = this.free().filter((i) => modelMatches(gpus.find((g) => g.index === i)?.name ?? "", sel.model));
    if (sel.count > free.length) throw new CommandFailure("not_enough_gpus", `asked for ${sel.count} GPUs${sel.model ? ` of model "${sel.model}"` : ""}, ${free.length} free`);
    return free.slice(0, sel.count);
  }
}
