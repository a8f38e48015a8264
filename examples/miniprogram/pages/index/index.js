const app = getApp()

Page({
  data: {
    user: null,
    phone: '',
    message: ''
  },

  onShow () {
    return this.loadUser()
  },

  // Any request through app.auth carries the access token, logs in first when
  // there is none, and refreshes it when it is about to expire.
  loadUser () {
    return app.auth.request({ url: '/v1/me' })
      .then((res) => this.setData({ user: res.data, message: '' }))
      .catch((error) => this.setData({ message: 'could not load the profile: ' + error.code }))
  },

  // <button open-type="getPhoneNumber">: WeChat hands a one-time code that only
  // the service can exchange for the number (it holds the access_token).
  onGetPhoneNumber (event) {
    const code = event.detail.code
    if (!code) {
      this.setData({ message: 'phone number not shared (' + event.detail.errMsg + ')' })
      return Promise.resolve()
    }
    return app.auth.phone(code)
      .then((phone) => this.setData({ phone: phone.phoneNumber, message: '' }))
      .catch((error) => this.setData({ message: 'could not read the phone number: ' + error.code }))
  },

  onLogout () {
    // The tokens leave the device even when the service cannot be reached.
    return app.auth.logout()
      .catch((error) => console.warn('logout not confirmed by the service:', error.code))
      .then(() => this.setData({ user: null, phone: '', message: 'logged out' }))
  }
})
