// grpc-js-xds (the npm package, see bazel/setup.sh) as an xDS client: dials
// xds:///TARGET (bootstrap in $GRPC_XDS_BOOTSTRAP), makes N unary calls to
// /test.Echo/Say one after the other and prints each answer on a line.
// Usage: node js_xds_client.js TARGET N   (NODE_PATH: the npm node_modules)
const grpc = require('@grpc/grpc-js');
const xds = require('@grpc/grpc-js-xds');

xds.register();
const [target, n] = [process.argv[2], parseInt(process.argv[3], 10)];
const client = new grpc.Client('xds:///' + target, grpc.credentials.createInsecure());
const id = (b) => b;

function call(i) {
  if (i === n) {
    client.close();
    return;
  }
  const deadline = new Date(Date.now() + 20000);
  client.makeUnaryRequest('/test.Echo/Say', id, id, Buffer.from('js' + i), {deadline},
    (err, resp) => {
      if (err) {
        console.error('call ' + i + ': ' + err.code + ' ' + err.details);
        process.exit(1);
      }
      console.log(resp.toString());
      call(i + 1);
    });
}
call(0);
