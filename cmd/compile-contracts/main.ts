// `npm run contracts`: compiles the escrow contract with solc-js and writes its committed ABI and bytecode.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { artifactModule, compileContract, CONTRACTS_DIR } from "../../internal/chain/contracts/compile.js";

const name = "RentalEscrow";
const target = join(CONTRACTS_DIR, "rental-escrow-artifact.ts");
await writeFile(target, artifactModule(name, compileContract(join(CONTRACTS_DIR, `${name}.sol`), name)));
process.stdout.write(`${target} written\n`);
