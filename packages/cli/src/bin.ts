#!/usr/bin/env node
// The secret leaves the environment before the CLI loads (see secret-shed.ts): a re-exec then costs one Node start-up.
import { shedSecrets } from './secret-shed.js'

shedSecrets()
await import('./main.js')
