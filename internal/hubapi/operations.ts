import { getNonce, getSignInMessage, signIn, signOut } from "./auth.js";
import { events } from "./events.js";
import { dashboard, dashboardFile, getCa, getCaPem, health, openApi } from "./hub.js";
import { getNode, getNodeGpuHistory, getNodeLive, listNodes, registerNode } from "./nodes.js";
import type { Operation } from "./operation.js";
import { getChain, getEarnings } from "./payments.js";
import { getRelease, getReleaseArchive, listReleases } from "./releases.js";
import { createRental, deleteRental, getRental, getRentalLogs, listRentals, stopRental } from "./rentals.js";

/** Every operation of the hub's REST API, in the order the document lists them. A test checks that the hub registers exactly these. */
export const hubOperations: readonly Operation[] = [
  health,
  getCa,
  getCaPem,
  getNonce,
  getSignInMessage,
  signIn,
  signOut,
  registerNode,
  listNodes,
  getNode,
  getNodeLive,
  getNodeGpuHistory,
  createRental,
  listRentals,
  getRental,
  stopRental,
  deleteRental,
  getRentalLogs,
  getChain,
  getEarnings,
  listReleases,
  getRelease,
  getReleaseArchive,
  events,
  openApi,
  dashboard,
  dashboardFile,
];
