// Shared shapes of the fuzz suite: a generated malformed input (a file or folder on disk plus what
// must happen to it) and what the code under test did with it.

/** What loading the input must end in. */
export type Expect =
  | 'error' // a thrown Error whose message names the file / field / line
  | 'skip' // the good rows load, each bad record is skipped and reported with file and line
  | 'tolerated'; // documented as accepted on purpose (e.g. a UTF-8 BOM)

export type Target =
  | 'config' // loadConfig(file): what `loractor --actors` does first
  | 'check' // checkConfig(file): `loractor check`
  | 'model' // loadModel(dir) + loadTokenizer(dir, config) + render the chat template: the run's model load
  | 'dataset' // the coordinator's dataset prompt source (readers + Tina mapping + prompt rendering)
  | 'self-test'; // the harness's own check: input 'hang' spins forever, 'crash' ends the worker thread

export interface FuzzCase {
  id: number;
  category: string;
  name: string;
  target: Target;
  /** The file or folder handed to the target. */
  input: string;
  expect: Expect;
  /** The error message must contain each of these (a path, a field name, file:line). */
  mustName: string[];
  /** For skip cases: the rows that must survive. */
  goodRows?: number;
  datasetId?: string;
}

export interface RowSkip {
  file: string;
  line: number;
  message: string;
}

export type RawOutcome =
  | { kind: 'threw'; name: string; message: string; ms: number }
  | { kind: 'returned'; rows: number; skips: RowSkip[]; ms: number };

export type Verdict = 'error' | 'skip' | 'tolerated' | 'accepted' | 'unclear-error' | 'hang' | 'crash';
