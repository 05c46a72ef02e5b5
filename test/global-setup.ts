/**
 * Starts the real servers the suite shares: a Temporal dev server (unless TEMPORAL_TEST_ADDRESS points
 * at one, as `.ci/run` does). Test files read the address with `inject('temporalAddress')`.
 */
import type { TestProject } from 'vitest/node';
import { ensureTemporalCli } from '../devenv/temporal-cli.ts';
import { freePort, startDevServer, waitForTemporal, type DevServer } from '../devenv/dev-server.ts';

let server: DevServer | undefined;

export default async function setup(project: TestProject) {
  let address = process.env.TEMPORAL_TEST_ADDRESS;
  if (address) await waitForTemporal(address, 60_000);
  else {
    const cli = await ensureTemporalCli((l) => console.log(l));
    server = await startDevServer({ cli, port: await freePort(), headless: true });
    address = server.address;
  }
  project.provide('temporalAddress', address);
  return async () => {
    await server?.stop();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
  }
}
