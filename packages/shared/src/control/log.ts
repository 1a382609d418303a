/** Where the control plane writes its warnings; the caller decides (stderr, a logger, a test array). */
export type ControlLog = (line: string) => void;

export const defaultControlLog: ControlLog = (line) => {
  process.stderr.write(`[control] ${line}\n`);
};
