#!/usr/bin/env node
// Cross-language check of billing.v1.BillingService/CheckPlan.
//
// Loads protos/billing/v1/billing.proto at run time (no generated code), so a
// change to the .proto that breaks non-Python callers shows up here.
//
//   node check_plan.mjs --target 127.0.0.1:50051 --account acct_42 --plan pro
//   node check_plan.mjs --account acct_42 --feature exports
//
// Environment: PAYMENTSVC_TARGET (when --target is absent),
// PAYMENTSVC_TOKEN (sent as `authorization: Bearer <token>`),
// PAYMENTSVC_CALLER (sent as `x-paymentsvc-caller`, default "node-check").
// Prints the answer as one JSON object; exits 1 with the gRPC error as JSON:
// its code, message, and the ErrorInfo's reason, domain and metadata
// (error_info.mjs reads them from the google.rpc.Status trailer).
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

import { errorDetails } from "./error_info.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const PROTO_ROOT = path.resolve(here, "..", "..", "protos");
// google/protobuf/*.proto: protobufjs (proto-loader's parser) bundles the
// well-known types; its package folder holds google/protobuf/.
const WELL_KNOWN_ROOT = path.dirname(require.resolve("protobufjs/package.json"));

const { values } = parseArgs({
  options: {
    target: { type: "string" },
    account: { type: "string" },
    plan: { type: "string" },
    feature: { type: "string" },
    timeout: { type: "string", default: "5" },
  },
});

const target = values.target ?? process.env.PAYMENTSVC_TARGET ?? "127.0.0.1:50051";
if (!values.account || (values.plan === undefined) === (values.feature === undefined)) {
  console.error("usage: check_plan.mjs [--target HOST:PORT] --account ID (--plan NAME | --feature KEY)");
  process.exit(2);
}

const definition = protoLoader.loadSync("billing/v1/billing.proto", {
  includeDirs: [PROTO_ROOT, WELL_KNOWN_ROOT],
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const billing = grpc.loadPackageDefinition(definition).billing.v1;
const client = new billing.BillingService(target, grpc.credentials.createInsecure());

const metadata = new grpc.Metadata();
metadata.set("x-paymentsvc-caller", process.env.PAYMENTSVC_CALLER ?? "node-check");
if (process.env.PAYMENTSVC_TOKEN) {
  metadata.set("authorization", `Bearer ${process.env.PAYMENTSVC_TOKEN}`);
}

const request = { account_id: values.account };
if (values.plan !== undefined) request.plan = values.plan;
else request.feature = values.feature;

const deadline = new Date(Date.now() + Number(values.timeout) * 1000);
client.CheckPlan(request, metadata, { deadline }, (error, answer) => {
  client.close();
  if (error) {
    const { errorInfo, badRequest } = errorDetails(error);
    const described = { code: grpc.status[error.code], message: error.details };
    if (errorInfo) {
      Object.assign(described, {
        reason: errorInfo.reason,
        domain: errorInfo.domain,
        metadata: errorInfo.metadata,
      });
    }
    if (badRequest) described.field_violations = badRequest.field_violations;
    console.log(JSON.stringify({ error: described }));
    process.exit(1);
  }
  console.log(JSON.stringify(answer));
});
