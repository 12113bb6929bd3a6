/** What to tell the user when the engine process dies: the jobs it was running, read from its step file. */

/** The engine's step file: its process id and each running job's current step. */
export interface EngineStepFile {
  pid?: number;
  jobs?: { job?: string; kind?: string; model?: string; step?: string }[];
}

/** The message for an engine that stopped unexpectedly, naming each running job's model and step. */
export function crashMessage(stepFileText: string | undefined): string {
  let state: EngineStepFile | undefined;
  try { state = stepFileText ? (JSON.parse(stepFileText) as EngineStepFile) : undefined; } catch { state = undefined; }
  const jobs = state?.jobs ?? [];
  const base = 'The QuantLens engine stopped unexpectedly (a native crash or running out of memory)';
  const restart = 'It starts again with the next request.';
  if (!jobs.length) return `${base} while idle. ${restart}`;
  const what = jobs.map((j) => `${j.kind ?? 'a job'} of ${j.model ? baseName(j.model) : 'a model'} at step '${j.step ?? '?'}'`).join('; ');
  return `${base} while running ${what}. ${restart}`;
}

function baseName(p: string): string {
  return p.split(/[\\/]/).pop() ?? p;
}
