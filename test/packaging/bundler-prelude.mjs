import { installDawn } from './check.mjs';

await installDawn();
