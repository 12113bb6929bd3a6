/** The commands of the quantlens CLI, one module each; add a command by adding its register function here. */
import { Command } from 'commander';
import { CliIO } from '../context';
import { registerAnalyze } from './analyze';
import { registerInspect } from './inspect';
import { registerQuantize } from './quantize';
import { registerQat } from './qat';

/** Registers a command on the program. */
export type RegisterCommand = (program: Command, io: CliIO) => void;

/** Every command, in the order `--help` lists them. */
export const COMMANDS: RegisterCommand[] = [registerInspect, registerAnalyze, registerQuantize, registerQat];
