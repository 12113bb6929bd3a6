/**
 * The environment QuantLens starts its engine and CLI with. On Linux, glibc's malloc is told to keep the memory it
 * frees for reuse (`GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456`: blocks
 * up to 32 MB, glibc's largest threshold, from the heap rather than their own mappings, and up to 256 MB of freed heap
 * kept) instead of handing every such block back to the system and faulting fresh pages in for the next one. The analysis runs ONNX Runtime without its memory
 * arena (lower peaks), so every large tensor of every run is such a block; on a 2-core VM a fresh MB costs about 3 ms.
 * Measured (`analyze` of a ResNet-50 replica, 16 samples, interleaved runs): 41.3, 41.5 s -> 31.2-33.2 s, peak RSS
 * 993-1034 MB -> 994-1124 MB (with `mmap_max=0`, every block from the heap). Bigger blocks keep their own mappings: with
 * `mmap_max=0` a 2.4 GB external-data MLP's freed weight-sized blocks stayed in the heap, resident, and its `analyze`
 * peaked at 7.24 GB against 5.04 GB with the 32 MB threshold (ResNet-50 35.9, 41.4 s against 39.0, 42.0 s: within the
 * noise). Transparent huge pages (`glibc.malloc.hugetlb=1`) were as fast but raised the peak to
 * 1.4 GB in some runs, so only the `qat` command takes them (`hugePages`): a QAT step session's first run touches its
 * whole working set for the first time (mobilenet_v2 at batch 8: about 1 GB, 2.2-2.6 s against 0.45 s for later runs).
 * Elsewhere (other C libraries, other systems) the variable is ignored. A user's own `glibc.malloc.mmap_max`,
 * `mmap_threshold`, `trim_threshold` or `hugetlb` is kept; `QUANTLENS_MALLOC=system` leaves the environment as it is.
 */

/** The tunables added to GLIBC_TUNABLES. */
export const MALLOC_TUNABLES = 'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456';

/** True when `env` needs nothing added: not Linux, opted out, or the user set these tunables. */
export function mallocSettled(env: Readonly<Record<string, string | undefined>>, platform: string = process.platform): boolean {
  return platform !== 'linux' || env.QUANTLENS_MALLOC === 'system' || /glibc\.malloc\.(mmap_max|mmap_threshold|trim_threshold)=/.test(env.GLIBC_TUNABLES ?? '');
}

/** Transparent huge pages for malloc's heap (the `qat` command's addition). */
export const HUGE_PAGES_TUNABLE = 'glibc.malloc.hugetlb=1';

/** `env` with MALLOC_TUNABLES (and with `hugePages`, HUGE_PAGES_TUNABLE) appended to GLIBC_TUNABLES (a copy, unchanged when mallocSettled). */
export function withMallocTuning(env: Readonly<Record<string, string | undefined>>, platform: string = process.platform, o: { hugePages?: boolean } = {}): Record<string, string | undefined> {
  if (mallocSettled(env, platform)) return { ...env };
  const tunables = env.GLIBC_TUNABLES;
  const added = o.hugePages && !/glibc\.malloc\.hugetlb=/.test(tunables ?? '') ? `${MALLOC_TUNABLES}:${HUGE_PAGES_TUNABLE}` : MALLOC_TUNABLES;
  return { ...env, GLIBC_TUNABLES: tunables ? `${tunables}:${added}` : added };
}
