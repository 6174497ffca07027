/**
 * Loaded first in every test run (karma and the Node runner): registers the
 * backends, points tfjs-core's own test environment at `webgpu-fused`, and
 * installs the spec filter for tfjs-core's peer suite.
 */

import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '../src/index';

import { setTestEnvs, setupTestFilters } from '@tensorflow/tfjs-core/dist/jasmine_util';

import { PEER_SUITE_FILTERS } from './core/peer_filters';
import { OWN_SPEC_PREFIX } from './helpers/describe';

// tfjs-core's specs (`describeWithFlags`) run once per registered test env;
// we only want them on our backend. `isDataSync` stays unset: sync reads return
// zeros in headless Chromium and do not exist under Node.
setTestEnvs([
  {
    name: 'webgpu-fused',
    backendName: 'webgpu-fused',
    flags: { WEBGPU_CPU_FORWARD: false },
  },
]);

// The filter sees every spec in the bundle; our own specs all start with
// OWN_SPEC_PREFIX and always run.
setupTestFilters(PEER_SUITE_FILTERS, (name) => name.startsWith(OWN_SPEC_PREFIX));
