const { createAuthClient } = require('weapp-auth-client')
const config = require('./config.js')

App({
  // One client for the whole mini-program: it keeps the tokens in storage,
  // refreshes them, and logs in again when the session is gone.
  auth: createAuthClient({ baseUrl: config.authUrl }),

  onLaunch () {
    // Still signed in after a restart. Otherwise log in now, so the first page
    // finds tokens; a request would log in by itself anyway, and both share
    // one wx.login().
    if (!this.auth.isLoggedIn()) {
      this.auth.login().catch((error) => console.warn('login failed:', error.code))
    }
  }
})
