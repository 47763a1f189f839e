// loractor CLI (placeholder until the runtime issue lands the real dispatcher).
export async function runCli(argv: string[]): Promise<void> {
  console.log('loractor', argv.join(' '));
}
