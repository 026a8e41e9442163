import type { Db } from "../../src/db/database.js";
import { Cluster } from "./cluster.js";
import { startJobEndpoint, type JobEndpoint } from "./job-endpoint.js";
import { Load } from "./load.js";
import type { Teardown } from "./scenario.js";

export interface LoadedCluster {
  readonly cluster: Cluster;
  readonly load: Load;
  /** For jobs of other durations than the load's. */
  readonly endpoint: JobEndpoint;
}

/**
 * How most scenarios open: three daemons on `url` and a steady load of `http`
 * jobs (`perSecond`, each answered by a loopback endpoint after `workMs`),
 * all torn down with `teardown`.
 */
export async function startLoadedCluster(
  url: string,
  db: Db,
  teardown: Teardown,
  options: { readonly perSecond: number; readonly workMs: number },
): Promise<LoadedCluster> {
  const endpoint = await startJobEndpoint();
  teardown.add(() => endpoint.close());
  const cluster = new Cluster(url);
  teardown.add(() => cluster.stopAll());
  await cluster.start(3);
  const load = new Load(db, endpoint.url(options.workMs), options.perSecond);
  teardown.add(() => load.stop());
  load.start();
  return { cluster, load, endpoint };
}
