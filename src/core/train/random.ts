/** A small seeded PRNG (mulberry32) for reproducible initialisation, shuffling and synthetic data. */
import { mulberry32 } from '../data/synthetic';

/** Seeded generator of uniform numbers in [0, 1), normals, and permutations. */
export class Rng {
  private readonly uniform01: () => number;
  constructor(seed: number) {
    this.uniform01 = mulberry32(seed);
  }
  /** Uniform in [0, 1). */
  next(): number {
    return this.uniform01();
  }
  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = Math.max(this.next(), 1e-12), v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  /** A random permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = Int32Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const t = p[i]; p[i] = p[j]; p[j] = t;
    }
    return p;
  }
}
