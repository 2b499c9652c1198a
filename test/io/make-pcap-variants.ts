/**
 * Regenerates fixtures/pcap-variants/ (see its README): `npx tsx test/io/make-pcap-variants.ts`.
 * Hand-built files come from test/io/pcap-fixtures.ts; the others from editcap/mergecap 4.0 on those.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { variantImages, VARIANTS_DIR } from './pcap-variants.ts';
import { run } from './pcap-fixtures.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dir = path.join(root, VARIANTS_DIR);
fs.mkdirSync(dir, { recursive: true });
for (const [name, bytes] of Object.entries(variantImages())) fs.writeFileSync(path.join(dir, name), bytes);
const f = (n: string): string => path.join(dir, n);
run('editcap', ['-F', 'pcap', f('eth-ns.pcap'), f('eth-us.pcap')]);
run('editcap', ['-F', 'pcapng', f('eth-ns.pcap'), f('eth-ns.pcapng')]);
run('editcap', ['-F', 'pcapng', f('eth-us.pcap'), f('eth-us.pcapng')]);
run('editcap', ['-F', 'modpcap', f('eth-ns.pcap'), f('eth-mod.pcap')]);
run('mergecap', ['-F', 'pcapng', '-w', f('multi-if.pcapng'), f('eth-ns.pcap'), f('raw-ns.pcap')]);
console.log(`wrote ${fs.readdirSync(dir).length} files to ${dir}`);
