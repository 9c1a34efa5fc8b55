// WebSocketClientAdapter that counts what goes over the wire, client side.
//  - payload bytes: the binary WebSocket messages (CBOR-encoded automerge-repo
//    messages) handed to socket.send() and received in receiveMessage();
//  - wire bytes: the underlying TCP socket's bytesWritten/bytesRead, i.e. what
//    really crossed loopback, incl. the HTTP upgrade, WebSocket frame headers
//    and client masking keys, and ping/pong.
// The package exports the Node/browser client as WebSocketClientAdapter (and
// the deprecated alias BrowserWebSocketClientAdapter); both are the same class.
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"

export class CountingWebSocketClientAdapter extends WebSocketClientAdapter {
  stats = { payloadSent: 0, payloadReceived: 0, messagesSent: 0, messagesReceived: 0, connects: 0 }
  #sockets = []
  #tcp = new Set()

  connect(peerId, peerMetadata) {
    super.connect(peerId, peerMetadata)
    const ws = this.socket
    if (!ws || this.#sockets.includes(ws)) return
    this.#sockets.push(ws)
    this.stats.connects++
    ws.addEventListener("open", () => { if (ws._socket) this.#tcp.add(ws._socket) })
    const send = ws.send.bind(ws)
    ws.send = (data, ...rest) => {
      this.stats.payloadSent += data.byteLength
      this.stats.messagesSent++
      return send(data, ...rest)
    }
  }

  receiveMessage(messageBytes) {
    this.stats.payloadReceived += messageBytes.byteLength
    this.stats.messagesReceived++
    return super.receiveMessage(messageBytes)
  }

  wire() {
    let sent = 0
    let received = 0
    // ws@8 exposes the upgraded net.Socket as ws._socket (captured on open)
    for (const s of this.#tcp) {
      sent += s.bytesWritten
      received += s.bytesRead
    }
    return { sent, received }
  }
}
