// `dtrain --help` (built from the lazy command table), each command's real registration, and the
// README's CLI block must list the same commands: a command added in one place and not the others fails.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Help } from 'commander';
import { LAZY_COMMANDS } from '../packages/cli/src/command-table';
import { DTRAIN_BIN, REPO_ROOT } from './harness/dtrain-cli';

/** Command names in the "Commands:" section of a commander help text (without `help`). */
function helpCommands(help: string): string[] {
  const section = help.split('\nCommands:\n')[1] ?? '';
  return [...section.matchAll(/^ {2}([a-z][\w-]*)/gm)].map((m) => m[1]).filter((n) => n !== 'help');
}

/** Commands the README's CLI block shows (`dtrain a|b|c ...` lines count each alternative). */
function readmeCommands(): string[] {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const block = readme.split('\n## CLI\n')[1]?.split('```')[1] ?? '';
  const names = [...block.matchAll(/^dtrain ([a-z|-]+)/gm)].flatMap((m) => m[1].split('|'));
  return [...new Set(names)];
}

describe('dtrain commands', () => {
  it('`dtrain --help` and the README CLI block list the same commands', () => {
    const help = execFileSync(process.execPath, [DTRAIN_BIN, '--help'], { encoding: 'utf8' });
    const listed = helpCommands(help);
    expect(listed).toEqual(LAZY_COMMANDS.map((c) => c.name));
    expect([...readmeCommands()].sort()).toEqual([...listed].sort());
  });

  it('each lazy help line matches what its module registers (name, arguments, description)', async () => {
    const help = new Help();
    for (const entry of LAZY_COMMANDS) {
      const program = new Command();
      await entry.register(program);
      const real = program.commands.find((c) => c.name() === entry.name);
      expect(real, `${entry.name} is registered by its module`).toBeDefined();
      expect(help.subcommandTerm(real!)).toBe(entry.term);
      expect(real!.description()).toBe(entry.summary);
    }
  });

  it('`dtrain help launch` and `dtrain launch --help` show the real command, options included', () => {
    for (const args of [['help', 'launch'], ['launch', '--help']]) {
      const out = execFileSync(process.execPath, [DTRAIN_BIN, ...args], { encoding: 'utf8' });
      expect(out).toContain('Usage: dtrain launch [options] <job>');
      expect(out).toContain('--max-restarts <n>');
    }
  });
});
