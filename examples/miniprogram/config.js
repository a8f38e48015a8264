// Where your weapp-auth service runs. `npm start` in the repository listens on
// 127.0.0.1:3000; DevTools reaches it with "Does not verify valid domain names"
// ticked (project.config.json sets urlCheck: false). Production: an HTTPS
// domain listed in the mini-program's request domains.
module.exports = {
  authUrl: 'http://127.0.0.1:3000'
}
