// Reading the machine-readable part of a paymentsvc error in Node.js.
//
// The server puts a google.rpc.Status in the `grpc-status-details-bin`
// trailer; among its details is a google.rpc.ErrorInfo whose `reason`
// (PLAN_NOT_FOUND, SUBSCRIPTION_EXISTS, ...) a program can branch on, and,
// for bad input, a google.rpc.BadRequest naming the field. The protos are
// vendored in protos/google/rpc/.
//
//   import { errorDetails } from "./error_info.mjs";
//   const { errorInfo, badRequest } = errorDetails(error);
//   if (errorInfo?.reason === "SUBSCRIPTION_EXISTS") { ... }
import path from "node:path";
import { fileURLToPath } from "node:url";

import protobuf from "protobufjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const PROTO_ROOT = path.resolve(here, "..", "..", "protos");

const root = new protobuf.Root();
// google/protobuf/*.proto are bundled with protobufjs; the rest is ours.
root.resolvePath = (_origin, target) =>
  target.startsWith("google/protobuf/") ? target : path.join(PROTO_ROOT, target);
root.loadSync(["google/rpc/status.proto", "google/rpc/error_details.proto"], { keepCase: true });

const Status = root.lookupType("google.rpc.Status");
const TYPE_URL_PREFIX = "type.googleapis.com/";

// { status, errorInfo, badRequest } from a @grpc/grpc-js ServiceError; each
// is undefined when the error carries none.
export function errorDetails(error) {
  const [raw] = error?.metadata?.get("grpc-status-details-bin") ?? [];
  if (raw === undefined) return {};
  const status = Status.toObject(Status.decode(raw), { longs: String, defaults: true });
  const found = { status };
  for (const any of Status.decode(raw).details) {
    if (!any.type_url.startsWith(TYPE_URL_PREFIX)) continue;
    const name = any.type_url.slice(TYPE_URL_PREFIX.length);
    const type = root.lookupTypeOrEnum(name);
    const detail = type.toObject(type.decode(any.value), { defaults: true });
    if (name === "google.rpc.ErrorInfo") found.errorInfo = detail;
    if (name === "google.rpc.BadRequest") found.badRequest = detail;
  }
  return found;
}
