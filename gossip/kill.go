package gossip

// Kill stops gossiping without leaving: memberlist shuts down (its sockets
// close) but no leave message is sent, so the other members see this node
// miss its probes and declare it dead after the suspicion timeout, as after
// a crash. It is for in-process tests of failure (node.Node.Kill); Close is
// the normal stop. Kill and Close are idempotent and exclusive: whichever
// runs first decides.
func (g *Gossip) Kill() error {
	g.closeOnce.Do(func() {
		close(g.stop)
		g.life.Lock()
		g.quiet.Store(true)
		err := g.ml.Shutdown()
		g.life.shut = true
		g.life.Unlock()
		g.wg.Wait()
		g.closeErr = err
	})
	return g.closeErr
}
